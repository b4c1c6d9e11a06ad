"""Where a visit is: the area (district or county, 区/县) of a Chinese address, by which the
officer's agenda groups a day's visits on a phone. Pure: no ORM, no settings.

A mainland address runs from the largest unit to the smallest: province (省, 自治区), the
prefecture city (市, 州, 地区, 盟), the district or county (区, 县, 旗, or a county-level 市),
then the town (镇, 乡, 街道) and the street. The four municipalities (北京, 上海, 天津, 重庆)
are provinces themselves, so their districts follow the city at once.
"""

from __future__ import annotations

import re

MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")

# A province-level unit at the start: "福建省", "广西壮族自治区", "香港特别行政区".
_PROVINCE = re.compile(r"^[\u4e00-\u9fff]{2,12}?(?:省|自治区|特别行政区)")
# The prefecture: "福州市", "延边朝鲜族自治州", "大兴安岭地区", "锡林郭勒盟".
# A lone 州 ends a prefecture only when no 市 follows: 福州市 is the city of 福州, not 福 + 州.
_PREFECTURE = re.compile(r"^[\u4e00-\u9fff]{1,12}?(?:自治州|地区|盟|市|州(?!市))")
# The county level: "鼓楼区", "闽侯县", "福清市" (county-level city), "鄂温克族自治旗".
# A street's name may end in 区 too ("开发区路"): the unit must not be followed by 路/街/道.
_COUNTY = re.compile(r"^[\u4e00-\u9fff]{1,12}?(?:新区|区|县|旗|市)(?![路街道巷弄号场])")
# Where no county is named, the town or township: "南通镇", "大湖乡".
_TOWN = re.compile(r"[\u4e00-\u9fff]{1,8}?(?:镇|乡)(?![路街道巷弄号场])")


def area_of(address: str) -> str:
    """The district or county an address lies in ("福州市鼓楼区五四路12号" → "鼓楼区"), else
    its town or township, else "" (an address too short or not a mainland one)."""
    rest = re.sub(r"\s+", "", address or "")
    if not rest:
        return ""
    province = _PROVINCE.match(rest)
    if province:
        rest = rest[province.end() :]
    if rest.startswith(MUNICIPALITIES):
        rest = rest[3:]
    else:
        prefecture = _PREFECTURE.match(rest)
        # A prefecture-city is followed by its district or county; without one after it,
        # the 市 was itself the county level (a county-level city named alone).
        if prefecture and _COUNTY.match(rest[prefecture.end() :]):
            rest = rest[prefecture.end() :]
    county = _COUNTY.match(rest)
    if county:
        return county.group(0)
    town = _TOWN.search(rest)
    return town.group(0) if town else ""
