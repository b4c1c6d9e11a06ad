"""Demo data for `make run`: a small microfinance book in Fuzhou.

Deterministic (a fixed random seed) and dated relative to today, so that the book
always shows loans in every tier: paying, one or two behind, three, four to six,
seven and more, past maturity and settled. Everything is created through the
services, exactly as the portal's users would create it.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from borrowers import services as borrower_services
from borrowers.models import Borrower, Guarantee, Guarantor
from common import idnumbers
from common.money import to_fen
from loans import services
from loans.models import Branch, Instalment, Loan, LoanProduct, OfficerProfile
from loans.schedule import add_months

SEED = 2026
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程魏苏吕丁沈姚卢"
)
GIVEN_NAMES = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "志强",
    "海燕",
    "国庆",
    "晓东",
    "春梅",
    "建国",
    "丽华",
    "文斌",
    "少华",
    "美玲",
    "金水",
    "阿福",
    "宝珠",
    "永辉",
    "雪梅",
]
BUSINESSES = [
    "便利店",
    "五金店",
    "小餐馆",
    "服装批发",
    "水产养殖",
    "茶叶店",
    "物流运输",
    "汽车修理",
    "建材销售",
    "家具加工",
    "早餐店",
    "水果批发",
    "美发店",
    "手机维修",
    "印刷厂",
]
STREETS = [
    "五四路",
    "东街",
    "八一七北路",
    "杨桥路",
    "湖东路",
    "华林路",
    "工业路",
    "福新路",
    "六一路",
    "晋安河路",
    "连江路",
    "西二环路",
]
DISTRICTS = {"350102": "鼓楼区", "350103": "台江区", "350104": "仓山区", "350111": "晋安区"}
ENTERPRISES = [
    "闽江贸易",
    "榕城建材",
    "鼓山茶业",
    "海峡物流",
    "福新食品",
    "三坊七巷文旅",
    "马尾船舶配件",
    "晋安机械",
]

# Share of loans per repayment behaviour: name -> (weight, missed instalments)
BEHAVIOURS = {
    "paying": (45, 0),
    "behind_1_2": (15, None),
    "behind_3": (8, 3),
    "behind_4_6": (8, None),
    "behind_7_plus": (7, None),
    "past_maturity": (5, None),
    "settled": (12, 0),
}


def _person_id(rng: random.Random, region: str) -> str:
    born = date(1962, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return first17 + idnumbers.resident_id_check_char(first17)


def _credit_code(rng: random.Random) -> str:
    alphabet = idnumbers.CREDIT_CODE_ALPHABET
    first17 = "91350100" + "".join(rng.choice(alphabet) for _ in range(9))
    return first17 + idnumbers.credit_code_check_char(first17)


def _mobile(rng: random.Random) -> str:
    return rng.choice(["138", "139", "150", "158", "186", "189", "135", "137"]) + (
        f"{rng.randrange(0, 10**8):08d}"
    )


def _address(rng: random.Random, district: str) -> str:
    return f"福州市{district}{rng.choice(STREETS)}{rng.randrange(1, 400)}号"


class DemoBook:
    def __init__(self, steps):
        self.rng = random.Random(SEED)
        self.today = timezone.localdate()
        self.used_ids: set[str] = set()
        # A bar over the loans, the longest part: the case's loan, the two groups' six, one
        # for each of the other people and enterprises (fewer when guarantors run out).
        self.loans = steps.progress("loans booked", 1 + 6 + (290 - 6) + len(ENTERPRISES))
        # The first contacts, recorded once the whole book is booked (load()).
        self.contacts: list[dict] = []

    # --- people --------------------------------------------------------------------------------

    def person(self, name: str | None = None, *, by=None) -> Borrower:
        rng = self.rng
        region = rng.choice(list(DISTRICTS))
        while True:
            id_number = _person_id(rng, region)
            if id_number not in self.used_ids:
                self.used_ids.add(id_number)
                break
        business = rng.choice(BUSINESSES)
        return borrower_services.borrower_create(
            data={
                "kind": "person",
                "name": name or rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
                "id_number": id_number,
                "mobile": _mobile(rng),
                "address": _address(rng, DISTRICTS[region]),
                "occupation": f"个体经营({business})",
                "business_address": _address(rng, rng.choice(list(DISTRICTS.values()))),
                "employer": "",
                "monthly_income": Decimal(rng.randrange(8, 60) * 1000),
                "assets": Decimal(rng.randrange(20, 300) * 10000),
                "bank_credit": Decimal(rng.randrange(0, 40) * 10000),
            },
            created_by=by,
        )

    def enterprise(self, name: str, *, by=None) -> Borrower:
        return borrower_services.borrower_create(
            data={
                "kind": "enterprise",
                "name": f"福州{name}有限公司",
                "credit_code": _credit_code(self.rng),
                "mobile": _mobile(self.rng),
                "address": _address(self.rng, "鼓楼区"),
                "legal_representative": self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES),
                "business_scope": "批发零售;仓储服务",
                "assets": Decimal(self.rng.randrange(200, 3000) * 10000),
            },
            created_by=by,
        )

    # --- loans ---------------------------------------------------------------------------------

    def book(
        self,
        *,
        borrower,
        product,
        officer,
        branch,
        guarantors=(),
        months_ago: int,
        term: int,
        method: str,
        principal: Decimal,
        rate: Decimal,
    ) -> Loan:
        disbursed = self.today - timedelta(days=months_ago * 30 + self.rng.randrange(0, 25))
        loan = services.loan_book(
            borrower=borrower,
            product=product,
            branch=branch,
            principal=principal,
            annual_rate=rate,
            term_months=term,
            repayment_method=method,
            disbursed_on=disbursed,
            purpose=self.rng.choice(["进货周转", "店面装修", "购置设备", "扩大经营", "支付货款"]),
            guarantors=list(guarantors),
            originating_officer=officer,
            managing_officer=officer,
            by=officer,
        )
        self.loans.advance()
        return loan

    def repay(self, loan: Loan, *, missed: int, partial_last: bool = False) -> None:
        """Pay every instalment due so far on time, except the last `missed` of them."""
        instalments = list(Instalment.objects.filter(loan=loan).order_by("seq"))
        due = [i for i in instalments if i.due_on < self.today]
        to_pay = due[: max(len(due) - missed, 0)]
        rows = []
        for number, instalment in enumerate(to_pay, start=1):
            paid_on = max(
                instalment.due_on - timedelta(days=self.rng.randrange(0, 4)), loan.disbursed_on
            )
            rows.append(
                {
                    "paid_on": paid_on,
                    "amount": instalment.amount_due,
                    "reference": f"DEMO-{loan.pk}-{number}",
                    "channel": self.rng.choice(["bank_transfer", "auto_debit", "wechat", "cash"]),
                }
            )
        if partial_last and len(due) > len(to_pay):
            # Interest only on the oldest missed instalment: still counts as missed.
            oldest_missed = due[len(to_pay)]
            rows.append(
                {
                    "paid_on": oldest_missed.due_on + timedelta(days=3),
                    "amount": oldest_missed.interest_due,
                    "reference": f"DEMO-{loan.pk}-partial",
                    "channel": "cash",
                }
            )
        rows = [r for r in rows if r["amount"] > 0 and r["paid_on"] <= self.today]
        if rows:
            services.repayments_record_many(loan=loan, rows=rows, by=loan.managing_officer)

    def settle(self, loan: Loan) -> None:
        instalments = list(Instalment.objects.filter(loan=loan).order_by("seq"))
        rows = [
            {
                "paid_on": min(i.due_on, self.today),
                "amount": i.amount_due,
                "reference": f"DEMO-{loan.pk}-{i.seq}",
            }
            for i in instalments
        ]
        services.repayments_record_many(loan=loan, rows=rows, by=loan.managing_officer)


def _officers():
    officer = User.objects.get(username="officer")
    officer2 = User.objects.get(username="officer2")
    return officer, officer2


def _guarantor_with_room(pool: list[Guarantor], rng, exclude_borrower) -> Guarantor | None:
    rng.shuffle(pool)
    for guarantor in pool:
        if guarantor.borrower_id == exclude_borrower.pk:
            continue
        if Guarantee.objects.filter(guarantor=guarantor, status="active").count() < 2:
            return guarantor
    return None


def load(steps) -> None:
    """The demo book, once. The inspection plan follows it in two set-based runs (after the
    booking, after the first contacts) instead of one per loan and contact: the plan the book
    ends with, less the first contacts of loans settled as they were booked, in 50 s instead
    of 67 to 90 on the measuring machine (docs/benchmarks.md)."""
    step = steps.start("Demo book: borrowers, guarantors, loans, repayments")
    with transaction.atomic():
        if LoanProduct.objects.filter(code="GUAR").exists():
            step.end("already loaded")
            return
        book = DemoBook(steps)
        with services.replanning_deferred():
            _book(book)
        book.loans.finish()
        with services.replanning_deferred():
            for contact in book.contacts:
                services.handover_record_contact(**contact)
    step.end(
        f"{Borrower.objects.count()} borrowers, {Guarantor.objects.count()} guarantors, "
        f"{Loan.objects.count()} loans, 3 joint groups (one dissolved)"
    )


def _book(book: DemoBook) -> None:
    """The demo's book, in the order its random draws were made (the same book every time)."""
    officer, officer2 = _officers()
    branch_of = _branches(officer, officer2)
    guaranteed, secured = _products()
    borrowers, enterprises, guarantor_pool = _people(book, officer, officer2)
    _case_study(book, guaranteed, officer, branch_of[officer.pk])
    _joint_groups(book, guaranteed, borrowers, (officer, officer2), branch_of)
    _rest_of_book(
        book,
        borrowers[6:290] + enterprises,
        products=(guaranteed, secured),
        officers=(officer, officer2),
        branch_of=branch_of,
        guarantor_pool=guarantor_pool,
    )
    _facts_and_assessments(book, borrowers, guarantor_pool, officer)


def _branches(officer: User, officer2: User) -> dict[int, Branch]:
    """Three branches; each demo officer's home branch."""
    hq = Branch.objects.create(code="HQ", name="总部营业部", address="福州市鼓楼区五四路100号")
    east = Branch.objects.create(code="EAST", name="城东支行", address="福州市晋安区福新路8号")
    Branch.objects.create(code="WEST", name="城西支行", address="福州市仓山区工业路66号")
    OfficerProfile.objects.create(user=officer, branch=hq, employee_number="KH001")
    OfficerProfile.objects.create(user=officer2, branch=east, employee_number="KH002")
    return {officer.pk: hq, officer2.pk: east}


def _products() -> tuple[LoanProduct, LoanProduct]:
    """A guaranteed product (joint groups allowed) and a secured one."""
    guaranteed = LoanProduct.objects.create(
        code="GUAR",
        name="担保贷 Guaranteed loan",
        rate_min=Decimal("8"),
        rate_max=Decimal("18"),
        amount_min=Decimal("10000"),
        amount_max=Decimal("500000"),
        term_min=3,
        term_max=36,
        min_guarantors=1,
        allows_joint_group=True,
        min_group_size=3,
        per_person_limit=Decimal("500000"),
    )
    secured = LoanProduct.objects.create(
        code="MORT",
        name="抵押贷 Secured loan",
        rate_min=Decimal("6"),
        rate_max=Decimal("15"),
        amount_min=Decimal("50000"),
        amount_max=Decimal("3000000"),
        term_min=6,
        term_max=60,
        min_guarantors=0,
        requires_collateral=True,
        per_person_limit=Decimal("3000000"),
        grace_days=3,
    )
    return guaranteed, secured


def _people(book: DemoBook, officer: User, officer2: User):
    """Borrowers, enterprises and the guarantors the book draws on."""
    rng = book.rng
    # People: borrowers, outside guarantors, enterprises.
    # The first six are the prospects of the two joint groups below, each formed by the
    # officer whose book they are in (the draw is kept, so the rest of the book is as before).
    group_owners = [officer] * 3 + [officer2] * 3
    borrowers = [
        book.person(by=_first(group_owners[i : i + 1], rng.choice([officer, officer2])))
        for i in range(330)
    ]
    enterprises = [book.enterprise(name, by=officer) for name in ENTERPRISES]
    outside = []
    for _ in range(90):
        region = rng.choice(list(DISTRICTS))
        id_number = _person_id(rng, region)
        outside.append(
            borrower_services.guarantor_create(
                kind="person",
                name=rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
                id_number=id_number,
                mobile=_mobile(rng),
                address=_address(rng, DISTRICTS[region]),
                created_by=officer,
            )
        )
    outside.append(
        borrower_services.guarantor_create(
            kind="enterprise",
            name="福州海峡担保有限公司",
            credit_code=_credit_code(rng),
            mobile=_mobile(rng),
            created_by=officer,
        )
    )
    guarantor_pool = outside + [
        borrower_services.guarantor_for_borrower(b, created_by=officer) for b in borrowers[290:]
    ]
    return borrowers, enterprises, guarantor_pool


def _case_study(book: DemoBook, guaranteed: LoanProduct, officer: User, hq: Branch) -> None:
    # The case study: 严先生 proposes a three-household group; the weak member withdraws,
    # the group dissolves, and he borrows alone with one guarantor — one limit, not two.
    yan, partner, weak = (
        book.person("严国华", by=officer),
        book.person("陈美玲", by=officer),
        book.person("林阿福", by=officer),
    )
    case = borrower_services.group_form(
        name="严氏三户联保",
        product=guaranteed,
        members=[yan, partner, weak],
        lead=yan,
        formed_on=book.today - timedelta(days=120),
        by=officer,
    )
    leaving = case.memberships.get(borrower=weak)
    borrower_services.group_member_leave(
        membership=leaving,
        left_on=book.today - timedelta(days=110),
        reason="担保实力较弱,主动退出",
        by=officer,
    )
    yan_loan = book.book(
        borrower=yan,
        product=guaranteed,
        officer=officer,
        branch=hq,
        guarantors=[borrower_services.guarantor_for_borrower(partner)],
        months_ago=3,
        term=24,
        method="equal_installment",
        principal=Decimal("500000"),
        rate=Decimal("9.6"),
    )
    book.repay(yan_loan, missed=0)


def _joint_groups(book: DemoBook, guaranteed, borrowers, officers, branch_of) -> None:
    rng = book.rng
    officer, officer2 = officers
    # Two working joint groups; every member borrows inside the group.
    for name, members in [
        ("鼓楼水产三户联保", borrowers[0:3]),
        ("台江服装三户联保", borrowers[3:6]),
    ]:
        lead_officer = officer if name.startswith("鼓楼") else officer2
        borrower_services.group_form(
            name=name,
            product=guaranteed,
            members=members,
            lead=members[0],
            formed_on=book.today - timedelta(days=400),
            by=lead_officer,
        )
        for member in members:
            loan = book.book(
                borrower=member,
                product=guaranteed,
                officer=lead_officer,
                branch=branch_of[lead_officer.pk],
                months_ago=12,
                term=24,
                method=rng.choice(["equal_installment", "equal_principal"]),
                principal=Decimal(rng.choice([200000, 300000, 500000])),
                rate=Decimal("10.8"),
            )
            book.repay(loan, missed=rng.choice([0, 0, 1, 4]))


def _rest_of_book(book: DemoBook, people, *, products, officers, branch_of, guarantor_pool) -> None:
    """Every other borrower's loan, by a drawn behaviour: paying, behind, settled…"""
    rng = book.rng
    guaranteed, secured = products
    officer, officer2 = officers
    # The rest of the book.
    names = list(BEHAVIOURS)
    weights = [BEHAVIOURS[n][0] for n in names]
    methods = ["equal_installment", "equal_principal", "interest_first", "bullet"]
    loans_made = 0
    for index, borrower in enumerate(people):
        behaviour = rng.choices(names, weights)[0]
        method = methods[index % 4]
        managing = officer if index % 5 < 3 else officer2
        is_secured = index % 4 == 1 or borrower.kind == "enterprise"
        product = secured if is_secured else guaranteed
        if behaviour == "settled":
            term = rng.choice([6, 12])
            months_ago = term + rng.randrange(1, 6)
            missed = 0
        elif behaviour == "past_maturity":
            term = rng.choice([6, 9, 12])
            months_ago = term + rng.randrange(1, 4)
            missed = rng.randrange(1, 4)
        else:
            missed = {
                "paying": 0,
                "behind_1_2": rng.choice([1, 2]),
                "behind_3": 3,
                "behind_4_6": rng.randrange(4, 7),
                "behind_7_plus": rng.randrange(7, 11),
            }[behaviour]
            term = rng.choice([12, 18, 24, 36])
            months_ago = rng.randrange(max(missed + 1, 2), min(term, missed + 14))
        if method == "bullet":
            term = min(term, 12)
            if behaviour not in ("settled", "past_maturity", "paying"):
                behaviour, months_ago, missed = "past_maturity", term + missed, 1
            if behaviour == "paying":
                months_ago = rng.randrange(1, term)
        term = max(term, product.term_min)
        principal = Decimal(rng.randrange(5, 50) * 10000)
        if is_secured:
            principal = Decimal(rng.randrange(10, 150) * 10000)
        guarantors = []
        if product.min_guarantors:
            guarantor = _guarantor_with_room(guarantor_pool, rng, borrower)
            if guarantor is None:
                continue
            guarantors = [guarantor]
        loan = book.book(
            borrower=borrower,
            product=product,
            officer=managing,
            branch=branch_of[managing.pk],
            guarantors=guarantors,
            months_ago=months_ago,
            term=term,
            method=method,
            principal=principal,
            rate=Decimal(rng.choice(["9.6", "10.8", "12", "14.4"])),
        )
        if behaviour == "settled":
            book.settle(loan)
        else:
            book.repay(loan, missed=missed, partial_last=behaviour == "behind_4_6")
        if is_secured:
            _collateral(book, loan, index)
        _handover(book, loan)
        loans_made += 1


def _collateral(book: DemoBook, loan: Loan, index: int) -> None:
    rng, today = book.rng, book.today
    kinds = ["real_estate", "off_plan", "machinery", "vehicle", "deposit", "other"]
    kind = kinds[index % len(kinds)]
    value = to_fen(loan.principal * Decimal(rng.choice(["1.3", "1.5", "1.8", "2.0"])))
    details = {
        "real_estate": ("住宅一套,建筑面积89平方米", {}),
        "off_plan": (
            "期房一套,预售合同已备案",
            {
                "developer": "福州融信置业有限公司",
                "expected_completion_on": add_months(loan.disbursed_on, rng.choice([3, 6, 18])),
                "pre_registration_on": loan.disbursed_on + timedelta(days=20),
                "registration_due_on": add_months(loan.disbursed_on, 9),
            },
        ),
        "machinery": ("数控机床两台", {"custody": "owner"}),
        "vehicle": ("货车一辆 闽A·D1234", {"custody": "owner"}),
        "deposit": ("定期存单质押", {"custody": "company"}),
        "other": ("应收账款质押", {"custody": "registry"}),
    }
    description, extra = details[kind]
    collateral = services.collateral_add(
        loan=loan,
        kind=kind,
        description=description,
        value=value,
        valued_on=loan.disbursed_on,
        valuation_method="appraisal",
        valued_by="福建华信评估",
        **extra,
    )
    if kind in ("machinery", "vehicle") and rng.random() < 0.6:
        # Equipment loses value: some fall towards or below the loan (risk factor 11).
        services.valuation_add(
            collateral=collateral,
            valued_on=min(today, loan.disbursed_on + timedelta(days=200)),
            value=to_fen(loan.principal * Decimal(rng.choice(["0.7", "0.9", "1.1"]))),
            method="officer",
            valued_by="客户经理",
        )


def _handover(book: DemoBook, loan: Loan) -> None:
    handover = loan.handover
    if handover.due_on >= book.today and book.rng.random() < 0.5:
        return  # still pending, not yet late
    roll = book.rng.random()
    if roll < 0.08 and handover.due_on < book.today:
        return  # never contacted: late
    late = roll < 0.2
    contacted = handover.due_on + timedelta(days=book.rng.randrange(1, 6) if late else 0)
    contacted = min(
        max(contacted - timedelta(days=book.rng.randrange(0, 3)), loan.disbursed_on), book.today
    )
    book.contacts.append(
        {
            "handover": handover,
            "contacted_on": contacted,
            "contact_method": book.rng.choice(["phone", "visit", "wechat"]),
            "fixed_contact": loan.borrower.mobile or "—",
            "by": loan.managing_officer,
        }
    )


def _first(preferred: list, drawn):
    return preferred[0] if preferred else drawn


def _keeper(borrower: Borrower, fallback):
    """The officer whose book the borrower is in: only they may change the borrower."""
    loan = Loan.objects.filter(borrower=borrower).order_by("-disbursed_on").first()
    return loan.managing_officer if loan else borrower.created_by or fallback


def _guarantor_keeper(guarantor, fallback):
    """An officer who manages a loan the guarantor backs (and so may re-assess them)."""
    guarantee = guarantor.guarantees.select_related("loan__managing_officer").first()
    return guarantee.loan.managing_officer if guarantee else fallback


def _facts_and_assessments(book, borrowers, guarantors, officer) -> None:
    rng, today = book.rng, book.today
    # Borrowers who keep moving (risk factor 10): three contact changes in six months.
    for borrower in borrowers[20:24]:
        for months_back in (5, 3, 1):
            current = Borrower.objects.get(pk=borrower.pk)
            borrower_services.borrower_update(
                borrower=current,
                version=current.version,
                data={
                    "address": _address(rng, rng.choice(list(DISTRICTS.values()))),
                    "mobile": _mobile(rng),
                },
                by=_keeper(current, officer),
                effective_on=today - timedelta(days=30 * months_back),
                note="电话回访得知",
            )
    # One borrower lost his job; one fell ill.
    for borrower, data in [
        (borrowers[30], {"employer": "", "monthly_income": Decimal("3000")}),
        (borrowers[31], {"health": "ill"}),
    ]:
        current = Borrower.objects.get(pk=borrower.pk)
        borrower_services.borrower_update(
            borrower=current,
            version=current.version,
            data=data,
            by=_keeper(current, officer),
            effective_on=today - timedelta(days=40),
            note="实地走访",
        )
    # Every active guarantor was assessed a year ago; a few have weakened since (factor 13).
    for guarantor in guarantors:
        if not guarantor.guarantees.exists():
            continue
        is_enterprise = guarantor.kind == "enterprise"
        income = Decimal(rng.randrange(10, 50) * 1000)
        borrower_services.guarantor_assess(
            guarantor=guarantor,
            assessed_on=today - timedelta(days=360),
            monthly_income=None if is_enterprise else income,
            net_assets=Decimal(rng.randrange(50, 500) * 10000),
            credit_standing=1,
            rating="A" if is_enterprise else "",
            enterprise_status="normal" if is_enterprise else "",
            by=_guarantor_keeper(guarantor, officer),
        )
        if rng.random() < 0.08 or is_enterprise:
            borrower_services.guarantor_assess(
                guarantor=guarantor,
                assessed_on=today - timedelta(days=20),
                monthly_income=None if is_enterprise else to_fen(income * Decimal("0.5")),
                net_assets=Decimal(rng.randrange(20, 100) * 10000),
                credit_standing=2,
                rating="BB" if is_enterprise else "",
                enterprise_status="restructuring" if is_enterprise else "",
                note="收入明显下降" if not is_enterprise else "企业重组中",
                by=_guarantor_keeper(guarantor, officer),
            )
