import pytest

from engine.knowledge.live_data import asks_live_data


@pytest.mark.parametrize(
    "text",
    [
        "Where is my parcel?",
        "What's the status of my order?",
        "Has order 90817 shipped yet?",
        "Is the X200 in stock?",
        "我的快递到哪了？",
        "订单号 123456 什么时候发货",
        "这个型号还有货吗？",
    ],
)
def test_live_data_questions(text: str) -> None:
    assert asks_live_data(text)


@pytest.mark.parametrize(
    "text",
    [
        "How long does delivery take?",
        "My screen arrived cracked, what do I do?",
        "运费多少？",
        "你们几点开门？",
        "Thanks for fixing my phone!",
    ],
)
def test_questions_the_facts_can_answer(text: str) -> None:
    assert not asks_live_data(text)
