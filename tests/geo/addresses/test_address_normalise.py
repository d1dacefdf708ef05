"""The normaliser on its own: every form a caller gives an address in comes out the same."""

from __future__ import annotations

import pytest

from geo.addresses.normalise import chinese_number, normalise, tokens

PREFIXES = ("上海市", "静安区", "南京西路街道")


@pytest.mark.parametrize(
    "typed",
    [
        "长宁路100号华山小区3栋2单元501室",
        "长宁路１００号华山小区３栋２单元５０１室",  # full-width digits
        "长宁路一百号华山小区三栋二单元五零一室",  # Chinese numerals
        "长宁路100号华山小区3幢2单元501",  # 幢 for 栋, a bare room number
        "长宁路100号华山小区3号楼2单元501号房",
        "长宁路 100 号，华山小区 3-2-501",  # spaces, punctuation, shorthand
        "上海市静安区长宁路100号华山小区3#楼2单元501室",  # city and district first
        "南京西路街道长宁路100号华山小区3栋2单元501室",  # the street office first
    ],
)
def test_every_form_of_one_address_normalises_alike(typed):
    assert normalise(typed, PREFIXES) == "长宁路 100号 华山小区 3栋 2单元 501室"


def test_a_city_and_district_it_does_not_know_are_dropped_too():
    assert normalise("北京市朝阳区长宁路100号") == "长宁路 100号"


def test_names_holding_numerals_or_administrative_words_are_kept():
    assert normalise("四川中路") == "四川中路"
    assert normalise("第一小学") == "第一小学"
    assert normalise("农贸市场") == "农贸市场"
    assert normalise("华山小区") == "华山小区"


def test_lanes_and_numbers_are_separate_tokens():
    assert tokens("长宁路100弄5号") == ("长宁路", "100弄", "5号")
    assert tokens("华山小区A座1201") == ("华山小区", "a栋", "1201")


def test_noise_alone_normalises_to_nothing():
    assert normalise("，。 \x00\t！") == ""


@pytest.mark.parametrize(
    ("text", "number"), [("十", 10), ("十二", 12), ("二十", 20), ("一百零五", 105), ("三五", 35)]
)
def test_chinese_numbers(text, number):
    assert chinese_number(text) == number


def test_a_word_that_is_not_a_number_is_none():
    assert chinese_number("四川") is None
