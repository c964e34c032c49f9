"""Operators answer customers themselves: a message in a customer's topic (or a reply to an
alert about them) goes to the customer as the team's, and from then on the bot leaves that
conversation to the operators until it is handed back (button, /handback, or idle timeout).

The takeover is stored, so it outlasts a restart. An operator's message that cannot be
delivered is reported back where it was written, never dropped without a word.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.button_data import CHAT_ID, USER_ID, ButtonLayout, carries, refuse
from bot.config import DeskConfig
from bot.delivery import DeliveryFailed, deliver
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.desk_channel import DeskChannel
from bot.operators.desk_locks import DeskLocks
from bot.operators.recipients import Recipients, in_group
from bot.timed_jobs import TimedJobs
from storage import Clock, StoredMessage
from storage.desk import Conversation, DeskStore
from storage.update_claims import UpdateClaims

log = logging.getLogger(__name__)

# The conversation (chat, customer); "dhb" and "dcl" on notes of earlier versions.
HAND_BACK_BUTTON = ButtonLayout("hand-back", (CHAT_ID, USER_ID), ("dhb",))
CLOSE_BUTTON = ButtonLayout("close", (CHAT_ID, USER_ID), ("dcl",))
# The group conversation an operator confirms writing into.
GROUP_POST_BUTTON = ButtonLayout("post-in-group", (CHAT_ID, USER_ID))
# How often idle takeovers are looked for.
IDLE_CHECK_SECONDS = 60.0


def hand_back_keyboard(conversation: Conversation) -> InlineKeyboardMarkup:
    which = (conversation.chat_id, conversation.customer_id)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "🤖 Hand back to the bot", callback_data=HAND_BACK_BUTTON.write(*which)
                ),
                InlineKeyboardButton("✅ Close", callback_data=CLOSE_BUTTON.write(*which)),
            ]
        ]
    )


def _operator_name(user: User) -> str:
    return f"{user.full_name} (@{user.username})" if user.username else user.full_name


class Takeovers:
    def __init__(
        self,
        bot: Bot,
        gate: OperatorGate,
        desk: DeskStore,
        channel: DeskChannel,
        chats: Collection[int],
        config: DeskConfig,
        clock: Clock,
        closed: Callable[[Conversation], Awaitable[None]],
        locks: DeskLocks,
        claims: UpdateClaims,
    ) -> None:
        self._bot = bot
        self._locks = locks
        # Stops the bot's answer in progress in this process for a conversation taken over
        # (chat id, customer id); answers in other processes yield at their delivery.
        self.stop_answer: Callable[[int, int], None] | None = None
        # Told of each operator message delivered to a customer (to offer saving it as a fact).
        self.operator_sent: Callable[[StoredMessage, Message], Awaitable[None]] | None = None
        self._claims = claims
        self._recipients = Recipients(desk, channel)
        self._closed = closed
        self._gate = gate
        self._desk = desk
        self._channel = channel
        self._chats = frozenset(chats)
        self._config = config
        self._clock = clock

    def register(self, app: Application, jobs: TimedJobs) -> None:  # type: ignore[type-arg]
        if not self._chats:
            return
        in_desk = filters.Chat(chat_id=self._chats) & filters.UpdateType.MESSAGE
        app.add_handler(
            MessageHandler(in_desk & filters.TEXT & ~filters.COMMAND, self.on_operator_text),
            group=OPERATOR_HANDLER_GROUP,
        )
        app.add_handler(
            CommandHandler("handback", self.on_handback, filters=in_desk),
            group=OPERATOR_HANDLER_GROUP,
        )
        app.add_handler(
            CallbackQueryHandler(
                then_stop(self.on_button),
                pattern=f"{HAND_BACK_BUTTON.pattern}|{CLOSE_BUTTON.pattern}",
            ),
            group=OPERATOR_HANDLER_GROUP,
        )
        app.add_handler(
            CallbackQueryHandler(
                then_stop(self.on_group_post_button), pattern=GROUP_POST_BUTTON.pattern
            ),
            group=OPERATOR_HANDLER_GROUP,
        )
        if self._config.takeover_idle_minutes and jobs.available:
            jobs.repeating(self._expire_job, IDLE_CHECK_SECONDS, "takeover idle timeout")

    # --- for the pipeline --------------------------------------------------------------------

    async def taken_over(self, message: StoredMessage) -> bool:
        """Whether an operator has the conversation; the message is then left to them."""
        conversation = Conversation(message.chat_id, message.customer_id)
        if await self._desk.takeover(conversation) is None:
            return False
        await self._desk.leave_to_the_team(message.id)
        return True

    # --- an operator writes ------------------------------------------------------------------

    async def on_operator_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or message.text is None:
            return
        conversation = await self._recipients.conversation_for(message)
        if conversation is None:
            # Not about a customer: anything else in the chat is handled as usual.
            return
        if not self._gate.admits(user):
            log.info("chat %s: ignored a desk message from a non-operator", message.chat_id)
        elif in_group(conversation):
            await self._tell(
                message,
                "⚠️ This customer has written to the bot only in a group chat "
                f"({conversation.chat_id}): your message would be posted there, for everyone "
                "in that group to read. Post it in the group?",
                InlineKeyboardMarkup(
                    [
                        [
                            InlineKeyboardButton(
                                "📣 Post it in the group",
                                callback_data=GROUP_POST_BUTTON.write(
                                    conversation.chat_id, conversation.customer_id
                                ),
                            )
                        ]
                    ]
                ),
            )
        else:
            assert user is not None
            await self.send(conversation, user, message.text, message)
        raise ApplicationHandlerStop

    async def on_group_post_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """An operator confirms posting their message (the one the question replies to) in
        the customer's group."""
        query = update.callback_query
        if query is None or not await self._gate.button(query):
            return
        fields = GROUP_POST_BUTTON.read(query.data)
        question = query.message if isinstance(query.message, Message) else None
        original = question.reply_to_message if question is not None else None
        if fields is None or question is None or not carries(question, query.data or ""):
            await refuse(query)
            return
        if original is None or not original.text:
            await query.answer("That message is gone; please write it again.", show_alert=True)
            return
        # However often the button is pressed, and in whichever process.
        if not await self._claims.claim(
            f"group-post:{original.chat_id}:{original.message_id}", self._clock()
        ):
            await query.answer("It was posted already.")
            return
        try:
            await question.edit_reply_markup(None)
        except TelegramError as exc:
            log.info("could not remove a group post button: %s", exc)
        await query.answer("Posting it in the group.")
        await self.send(Conversation(*fields), query.from_user, original.text, question)

    async def send(
        self, conversation: Conversation, operator: User, text: str, source: Message
    ) -> StoredMessage | None:
        """Take the conversation over, deliver the operator's text to the customer and store
        it; a failure is told to the operators where they wrote. In the customer's desk lock,
        which the bot's answer holds while it is delivered: the takeover is stored before the
        operator's text goes out, so an answer not out by then is not delivered after it."""
        async with self._locks.hold(conversation.customer_id):
            return await self._send(conversation, operator, text, source)

    async def _send(
        self, conversation: Conversation, operator: User, text: str, source: Message
    ) -> StoredMessage | None:
        now = self._clock()
        started = await self._desk.take_over(conversation, operator.id, now)
        if self.stop_answer is not None:
            self.stop_answer(conversation.chat_id, conversation.customer_id)
        outgoing = f"{self._config.team_prefix} {text}".strip()
        try:
            sent = await deliver(
                lambda: self._bot.send_message(conversation.chat_id, outgoing),
                f"chat {conversation.chat_id}: operator message",
            )
        except (DeliveryFailed, TelegramError) as exc:
            if started:
                # Nobody answered the customer: the bot may go on as before.
                await self._desk.hand_back(conversation)
            if isinstance(exc, Forbidden):
                await self._tell(
                    source, f"⚠️ Not delivered: the customer's chat refuses the bot ({exc})."
                )
            else:
                await self._tell(source, f"⚠️ Not delivered ({exc}). Please send it again.")
            return None
        stored = await self._desk.record_operator_message(
            conversation, operator.id, text, sent.message_id, now
        )
        if started:
            log.info(
                "operator %s took over customer %s in chat %s",
                operator.id,
                conversation.customer_id,
                conversation.chat_id,
            )
            await self._tell(
                source,
                f"🧑‍💼 {_operator_name(operator)} took over: the bot stays silent in this "
                "conversation until it is handed back.",
                hand_back_keyboard(conversation),
            )
        if self.operator_sent is not None:
            await self.operator_sent(stored, source)
        return stored

    async def _tell(
        self, source: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        try:
            await deliver(
                lambda: source.reply_text(text, reply_markup=markup),
                f"chat {source.chat_id}: desk notice",
            )
        except (DeliveryFailed, TelegramError) as exc:
            log.warning("chat %s: could not post a desk notice: %s", source.chat_id, exc)

    # --- handing back ------------------------------------------------------------------------

    async def on_handback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        if not self._gate.admits(user):
            raise ApplicationHandlerStop
        assert user is not None
        found = await self._recipients.customer_of(message)
        if found is None:
            await self._tell(
                message, "Use /handback in a customer's topic, or as a reply to a post about them."
            )
            raise ApplicationHandlerStop
        handed = [
            await self.hand_back(
                Conversation(takeover.chat_id, takeover.customer_id), f"by {_operator_name(user)}"
            )
            for takeover in await self._desk.takeovers_of(found[0])
        ]
        if not any(handed):
            await self._tell(message, "The bot already answers this customer.")
        raise ApplicationHandlerStop

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or not await self._gate.button(query):
            return
        closing = CLOSE_BUTTON.read(query.data)
        fields = closing or HAND_BACK_BUTTON.read(query.data)
        if fields is None:
            await refuse(query)
            return
        conversation = Conversation(*fields)
        who = _operator_name(query.from_user)
        if closing is not None:
            await self.hand_back(conversation, f"and closed by {who}")
            await self._closed(conversation)
            await query.answer("Closed; the customer is asked for a rating.")
        else:
            handed = await self.hand_back(conversation, f"by {who}")
            await query.answer("Handed back to the bot." if handed else "The bot already answers.")
        if isinstance(query.message, Message) and carries(query.message, query.data):
            try:
                await query.message.edit_reply_markup(None)
            except TelegramError as exc:
                log.info("could not remove a hand-back button: %s", exc)

    async def hand_back(self, conversation: Conversation, how: str) -> bool:
        if not await self._desk.hand_back(conversation):
            return False
        log.info(
            "customer %s in chat %s handed back %s",
            conversation.customer_id,
            conversation.chat_id,
            how,
        )
        self._channel.submit(
            conversation.customer_id,
            lambda: self._channel.post(conversation, f"🤖 Handed back to the bot {how}."),
            "post a hand-back",
        )
        return True

    async def expire_idle(self) -> int:
        """Hand back every takeover idle for `[desk] takeover_idle_minutes`; how many were."""
        quiet_since = self._clock() - timedelta(minutes=self._config.takeover_idle_minutes)
        idle = await self._desk.idle_takeovers(quiet_since)
        for takeover in idle:
            await self.hand_back(
                Conversation(takeover.chat_id, takeover.customer_id),
                f"after {self._config.takeover_idle_minutes} minutes without a message",
            )
        return len(idle)

    async def _expire_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.expire_idle()
        except Exception:
            log.exception("the takeover idle check failed")
