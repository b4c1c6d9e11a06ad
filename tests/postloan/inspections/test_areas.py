"""The area of a Chinese address (postloan/inspections/areas.py), by which a phone's agenda
groups a day's visits: the district or county, else the town; a pure rule, plain cases."""

from __future__ import annotations

import pytest

from postloan.inspections.areas import area_of


@pytest.mark.parametrize(
    ("address", "area"),
    [
        # a prefecture city and its district (the demo's addresses)
        ("福州市鼓楼区五四路12号", "鼓楼区"),
        ("福州市台江区五四路150号", "台江区"),  # 福州市, not 福州 + 市台江区
        # with the province in front
        ("福建省福州市仓山区工业路66号", "仓山区"),
        ("广西壮族自治区南宁市青秀区民族大道100号", "青秀区"),
        # a county, and a county-level city (市 below a 市)
        ("福建省福州市闽侯县南通镇文山里8号", "闽侯县"),
        ("江苏省苏州市昆山市玉山镇前进路3号", "昆山市"),
        ("福清市龙山街道龙江路1号", "福清市"),
        # the municipalities are provinces: the district follows at once
        ("上海市浦东新区世纪大道100号", "浦东新区"),
        ("北京市朝阳区建国路88号", "朝阳区"),
        # autonomous prefectures and leagues
        ("吉林省延边朝鲜族自治州延吉市人民路1号", "延吉市"),
        ("内蒙古自治区锡林郭勒盟锡林浩特市", "锡林浩特市"),
        # no county named: the town or township
        ("大湖乡红星村3组", "大湖乡"),
        # spaces typed into an address do not matter
        ("福州市 晋安区 福新路8号", "晋安区"),
        # a market (市场) is no county-level city
        ("鼓楼农贸市场", ""),
        # nothing to go by
        ("", ""),
        ("   ", ""),
        ("12 Harbour Road", ""),
    ],
)
def test_the_area_of_an_address(address, area):
    assert area_of(address) == area
