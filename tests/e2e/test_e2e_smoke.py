from bench.fake_telegram import FakeTelegram
from bot.service import BotService
from tests.e2e.support import answers_by_question, emoji_of, wait_for_status


async def test_private_message_is_answered_with_a_mood_emoji(
    fake: FakeTelegram, running_bot: BotService
) -> None:
    fake.add_user(42, first_name="Ann")
    fake.send_text(42, 42, "hello there")
    # The answer is stored just after it is sent: wait for the database, not the chat.
    [(question, answer)] = answers_by_question(await wait_for_status(running_bot.database, 42, 1))
    [message] = fake.messages(42)
    assert message.text == answer.text
    assert message.text.startswith(emoji_of(question.mood_label) + " ")
