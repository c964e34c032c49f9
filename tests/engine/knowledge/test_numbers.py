import pytest

from engine.knowledge.numbers import chinese_value, invented_numbers, numbers_in


@pytest.mark.parametrize(
    ("spelled", "value"),
    [("七", 7), ("十", 10), ("十二", 12), ("一百五十", 150), ("两千", 2000), ("一万二千", 12000),
     ("三十", 30), ("一五零", 150), ("二零二六", 2026)],
)  # fmt: skip
def test_chinese_numerals(spelled: str, value: int) -> None:
    assert chinese_value(spelled) == value


def test_arabic_numbers_with_separators_and_decimals() -> None:
    assert numbers_in("orders over 1,000 yuan; the kettle holds 1.8 L; 2–4 days") == {
        "1000", "1.8", "2", "4",
    }  # fmt: skip


def test_times_phone_numbers_and_order_ids_are_checked_part_by_part() -> None:
    assert numbers_in("call 400-820-1234 from 9:30") == {"400", "820", "1234", "9", "30"}
    assert numbers_in("order #5521") == {"5521"}


def test_words_with_a_numeral_that_is_no_number_are_ignored() -> None:
    assert numbers_in("请稍等一下，我们一定帮您查一查，十分抱歉") == set()


def test_english_number_words() -> None:
    assert numbers_in("a three-year warranty, seven days") == {"3", "7"}


def test_a_number_in_the_facts_is_allowed_in_any_spelling() -> None:
    facts = "满 150 元包邮。Returns within 7 days."
    assert invented_numbers("满一百五十元就包邮，七天内可以退货。", [facts]) == set()
    assert invented_numbers("Returns are free within seven days.", [facts]) == set()


def test_an_invented_price_or_time_is_caught() -> None:
    facts = "We open at 9:00. Shipping costs 12 yuan."
    assert invented_numbers("It costs 299 yuan and arrives by 18:00.", [facts]) == {"299", "18"}
    assert invented_numbers("这款售价三百元。", [facts]) == {"300"}


def test_a_number_the_customer_gave_may_be_repeated() -> None:
    assert (
        invented_numbers("We will check order 7731 for you.", ["facts", "my order 7731?"]) == set()
    )
    assert (
        invented_numbers("您的订单 7731 明天到。", ["facts", "我的订单 7731 什么时候到？"]) == set()
    )
    assert invented_numbers("Call us on 400-820-1235.", ["Phone 400-820-1234."]) == {"1235"}
