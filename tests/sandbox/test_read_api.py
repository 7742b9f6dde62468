"""Read endpoints of the sandbox: shapes, filters, sorting, paging and lookups (REFERENCE 3, 6, 7, 8)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.sandbox

LIFECYCLE_ORDER = [
    "Pending Verification",
    "More Info Required",
    "Collecting Quotes",
    "Pending Quote Selection",
    "Active",
    "Paused",
    "Closed",
    "Merged",
]
"""The display texts of the lifecycles a partner sees, in the order Sort=Lifecycle puts them."""
LIFECYCLE_DISPLAYS = set(LIFECYCLE_ORDER)


@pytest.fixture
def api(sandbox: SandboxHandle) -> httpx.Client:
    with sandbox.client() as client:
        yield client


def all_cases(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = api.get("/cases", params={**params, "Page": page, "PageSize": 100}).json()
        out.extend(body["cases"])
        if body["page"]["currentPage"] >= body["page"]["totalPages"]:
            return out
        page += 1


def test_missing_or_wrong_key_is_401_problem_details(sandbox: SandboxHandle) -> None:
    for headers in ({}, {"XApiKey": "wrong"}):
        r = httpx.get(f"{sandbox.url}/me", headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert body["status"] == 401 and body["title"] == "Unauthorized" and body["instance"] == "/me"
        assert "businessErrors" not in body


def test_me_and_users(api: httpx.Client) -> None:
    me = api.get("/me").json()
    assert me["companyName"] and isinstance(me["invoiceCurrency"], int) and me["commissionType"] in (0, 1)
    users = api.get("/users").json()
    assert users["page"]["pageSize"] == 50 and users["page"]["totalResults"] == len(users["users"]) >= 3
    assert all({"id", "name", "email"} <= set(u) for u in users["users"])
    paged = api.get("/users", params={"PageSize": 2, "Page": 2}).json()
    assert paged["page"]["currentPage"] == 2 and paged["page"]["responseCount"] == 2
    assert paged["users"][0]["id"] == users["users"][2]["id"]
    assert api.get("/users", params={"PageSize": 101}).status_code == 400


def test_list_envelope_and_defaults(api: httpx.Client, sandbox: SandboxHandle) -> None:
    body = api.get("/cases").json()
    assert set(body) == {"page", "cases"}
    page = body["page"]
    assert page["pageSize"] == 10 and page["currentPage"] == 1 and page["responseCount"] == 10
    expected = len(sandbox.case_ids)
    assert page["totalResults"] == expected
    assert page["totalPages"] == -(-expected // 10)
    for case in body["cases"]:
        assert case["lifecycle"] in LIFECYCLE_DISPLAYS
        assert case["isTestCase"] is False


def test_page_size_limit_and_bad_paging(api: httpx.Client) -> None:
    assert api.get("/cases", params={"PageSize": 100}).status_code == 200
    r = api.get("/cases", params={"PageSize": 101})
    assert r.status_code == 400 and "PageSize" in r.json()
    assert api.get("/cases", params={"Page": 0}).status_code == 400
    assert api.get("/cases", params={"Page": "x"}).status_code == 400
    beyond = api.get("/cases", params={"Page": 99}).json()
    assert beyond["cases"] == [] and beyond["page"]["responseCount"] == 0


def test_every_partner_visible_lifecycle_is_seeded_and_hidden_ones_are_not_listed(api: httpx.Client) -> None:
    cases = all_cases(api, includeTestCases="true")
    assert {c["lifecycle"] for c in cases} == LIFECYCLE_DISPLAYS
    assert {c["closeCode"] for c in cases if c["closeCode"]} >= {
        "Paid",
        "Partially paid",
        "Debtor Untraceable",
    }
    assert {c["currency"] for c in cases} >= {"EUR", "DKK"}
    assert {c["debtor"]["type"] for c in cases} == {"Company", "Person"}


def test_status_filter_forms(api: httpx.Client) -> None:
    def refs(**params: Any) -> set[str]:
        return {c["id"] for c in all_cases(api, **params)}

    active = refs(Statuses="Active")
    paused = refs(Statuses="Paused")
    assert active and paused
    both = active | paused
    assert refs(Statuses="active,PAUSED") == both
    assert {c["id"] for c in all_cases(api, Statuses=["Active", "Paused"])} == both
    assert refs(statuses="Pending Verification") == refs(Statuses="PendingVerification")
    assert refs(Statuses="More Info Required") == refs(Statuses="needsadditionaldetails")
    r = api.get("/cases", params={"Statuses": "Sleeping"})
    assert r.status_code == 400 and "Statuses" in r.json()
    r = api.get("/cases?Statuses[]=Active&PageSize=100")
    assert {c["id"] for c in r.json()["cases"]} == active


def test_id_debtor_division_filters(api: httpx.Client) -> None:
    cases = all_cases(api)
    a, b = cases[0], cases[1]
    got = all_cases(api, Ids=f"{a['id']},{b['id']}")
    assert {c["id"] for c in got} == {a["id"], b["id"]}
    got = all_cases(api, Ids=[a["id"], b["id"]])
    assert {c["id"] for c in got} == {a["id"], b["id"]}
    with_div = next(c for c in cases if c["creditorDivisionId"])
    got = all_cases(api, DivisionIds=with_div["creditorDivisionId"])
    assert got and all(c["creditorDivisionId"] == with_div["creditorDivisionId"] for c in got)
    assert api.get("/cases", params={"Ids": "not-a-guid"}).status_code == 400
    assert api.get("/cases", params={"DebtorIds": "nope"}).status_code == 400


def test_debtor_filter(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active")
    got = all_cases(api, DebtorIds=summary["debtorId"])
    assert summary["id"] in {c["id"] for c in got}


def test_sort_grammar(api: httpx.Client) -> None:
    desc = all_cases(api, Sort="GrossAmount:desc")
    amounts = [c["grossAmount"] for c in desc]
    assert amounts == sorted(amounts, reverse=True)
    asc = all_cases(api, Sort="grossamount")
    assert [c["grossAmount"] for c in asc] == sorted(amounts)
    updated = all_cases(api, Sort="DateUpdated:desc")
    stamps = [c["dateUpdated"] for c in updated]
    assert stamps == sorted(stamps, reverse=True)
    # unknown fields are ignored: same order as without them
    assert [c["id"] for c in all_cases(api, Sort="debtorName,GrossAmount:desc")] == [c["id"] for c in desc]
    multi = all_cases(api, Sort="Lifecycle:asc,Remainder:desc")
    keys = [(LIFECYCLE_ORDER.index(c["lifecycle"]), -c["remainder"]) for c in multi]
    assert keys == sorted(keys)
    finished = all_cases(api, Sort="DateFinished:desc")
    nulls = [c["dateFinished"] is None for c in finished]
    assert nulls == sorted(nulls)  # non-null first when descending
    assert api.get("/cases", params={"Sort": "GrossAmount:sideways"}).status_code == 400


def test_test_cases_only_with_include_flag(api: httpx.Client, sandbox: SandboxHandle) -> None:
    test_case = sandbox.case("Active", test=True)
    assert test_case["id"] not in {c["id"] for c in all_cases(api)}
    assert test_case["id"] in {c["id"] for c in all_cases(api, includeTestCases="true")}
    assert api.get(f"/cases/{test_case['id']}").status_code == 200


def test_case_by_id_404_for_hidden_other_partner_and_unknown(
    api: httpx.Client, sandbox: SandboxHandle
) -> None:
    hidden = sandbox.case("PendingContractSigning", visible=False)
    other = sandbox.case(ours=False, visible=None, test=None)
    for case_id in (hidden["id"], other["id"], "00000000-0000-4000-8000-000000000001"):
        r = api.get(f"/cases/{case_id}")
        assert r.status_code == 404
        body = r.json()
        assert body["businessErrors"] and body["businessErrors"][0]["type"] == "NotFound"
        assert {"error", "message", "businessErrors"} <= set(body)
    assert api.get("/cases/not-a-guid").status_code == 400


def test_case_shape(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Closed", close_code="PartiallyPaid")
    case = api.get(f"/cases/{summary['id']}").json()
    assert case["lifecycle"] == "Closed" and case["closeCode"] == "Partially paid"
    assert case["reference"] == summary["reference"] and len(case["reference"]) == 8
    assert case["creditor"]["id"] == summary["creditorId"]
    assert "collectionPartnerReference" not in case
    fees = case["interestFees"] + case["reminderFees"] + case["collectionFees"]
    assert case["totalAddedFees"] == pytest.approx(fees)
    paid = sum(p["grossAmount"] for p in api.get(f"/cases/{summary['id']}/payments").json())
    assert case["remainder"] == pytest.approx(case["grossAmount"] + fees - paid, abs=0.011)
    alloc = case["allocationOutstanding"]
    assert sum(alloc.values()) == pytest.approx(case["remainder"], abs=0.02)
    assert isinstance(case["validation"]["needsInfo"], bool)


def test_lookup_by_reference(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active")
    assert api.get(f"/cases/case-reference/{summary['reference']}").json()["id"] == summary["id"]
    assert api.get("/cases/case-reference/ZZZZZZZZ").status_code == 404
    hidden = sandbox.case("PendingVerificationInternal", visible=False)
    assert api.get(f"/cases/case-reference/{hidden['reference']}").status_code == 404


def test_lookup_by_partner_reference_single_is_exact_and_url_decoded(
    api: httpx.Client, sandbox: SandboxHandle
) -> None:
    summary = next(c for c in sandbox.cases(partner_reference=True) if "&" in c["partnerReference"])
    ref = summary["partnerReference"]
    r = api.get("/cases/by-partner-reference/" + quote(ref, safe=""))
    assert r.status_code == 200 and r.json()["id"] == summary["id"]
    assert api.get("/cases/by-partner-reference/" + quote(ref.split(" ")[0], safe="")).status_code == 404
    assert api.get("/cases/by-partner-reference/" + quote(ref.lower() + "x", safe="")).status_code == 404


def test_lookup_by_partner_reference_batch(api: httpx.Client, sandbox: SandboxHandle) -> None:
    refs = [
        c["partnerReference"]
        for c in sandbox.cases(partner_reference=True)
        if "," not in c["partnerReference"]
    ]
    assert len(refs) >= 3
    wanted = [*refs[:3], "UNKNOWN-REF"]
    body = api.get("/cases/by-partner-reference", params={"references": ",".join(wanted)}).json()
    assert set(body) == set(refs[:3])
    assert all(body[r]["id"] for r in refs[:3])
    assert api.get("/cases/by-partner-reference", params={"references": ""}).status_code == 400
    assert api.get("/cases/by-partner-reference").status_code == 400
    too_many = ",".join(f"R{i}" for i in range(101))
    r = api.get("/cases/by-partner-reference", params={"references": too_many})
    assert r.status_code == 400 and r.json()["businessErrors"]
    assert (
        api.get(
            "/cases/by-partner-reference", params={"references": ",".join(f"R{i}" for i in range(100))}
        ).json()
        == {}
    )


def test_lookup_by_creditor_reference(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active")
    params = {"reference": summary["creditorReference"], "creditorId": summary["creditorId"]}
    assert api.get("/cases/by-creditor-reference", params=params).json()["id"] == summary["id"]
    other = sandbox.case("Paused")
    if other["creditorId"] != summary["creditorId"]:
        wrong = {"reference": summary["creditorReference"], "creditorId": other["creditorId"]}
        assert api.get("/cases/by-creditor-reference", params=wrong).status_code == 404
    r = api.get("/cases/by-creditor-reference", params={"reference": "x"})
    assert r.status_code == 400 and "creditorId" in r.json()


def test_timeline_envelope(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active")
    body = api.get(f"/cases/{summary['id']}/timeline").json()
    assert set(body) == {"items", "currentEngagementPhase"}
    assert body["currentEngagementPhase"] in ("Pre-legal", "Legal", "Enforcement")
    dates = [i["date"] for i in body["items"]]
    assert dates == sorted(dates) and dates
    for item in body["items"]:
        assert set(item) == {"date", "type", "title", "description", "actor"}
        assert item["actor"]["type"] in ("System", "Creditor user", "Partner user")
    pending = sandbox.case("PendingVerification")
    assert api.get(f"/cases/{pending['id']}/timeline").json()["currentEngagementPhase"] is None


def test_chats_roles_and_labels(api: httpx.Client, sandbox: SandboxHandle) -> None:
    roles: dict[int, str] = {}
    for case_id in sandbox.case_ids:
        for chat in api.get(f"/cases/{case_id}/chats").json():
            roles[chat["role"]] = chat["roleLabel"]
            assert isinstance(chat["user"]["id"], int) and chat["user"]["email"]
    assert roles == {0: "Partner", 1: "Creditor", 2: "Managed by partner"}
    pending = sandbox.case("PendingVerification")
    assert api.get(f"/cases/{pending['id']}/chats").json() == []


def test_payments_newest_first_and_no_split(api: httpx.Client, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active", with_payments=False)
    url = f"/cases/{summary['id']}/payments"
    for day in ("2026-01-05", "2026-03-01", "2026-02-10"):
        body = {"date": day, "paymentAmount": 1, "paymentRecipient": "CollectionPartner"}
        assert api.post(url, json=body).status_code == 200
    payments = api.get(url).json()
    assert [p["date"][:10] for p in payments] == ["2026-03-01", "2026-02-10", "2026-01-05"]
    for p in payments:
        assert (
            "payoutCreditor" not in p and p["currency"] and p["invoice"]["reference"] == summary["reference"]
        )
    seeded = [c for c in sandbox.cases() if len(c["paymentIds"]) >= 2]
    assert seeded
    for c in seeded:
        dates = [p["date"] for p in api.get(f"/cases/{c['id']}/payments").json()]
        assert dates == sorted(dates, reverse=True)


def test_files_have_working_temporary_urls(api: httpx.Client, sandbox: SandboxHandle) -> None:
    files = []
    for case_id in sandbox.case_ids:
        files = api.get(f"/cases/{case_id}/files").json()
        if files:
            break
    assert files
    url = files[0]["url"]
    r = httpx.get(url)
    assert r.status_code == 200 and files[0]["fileName"] in r.headers["content-disposition"]
    assert httpx.get(url.replace("sig=", "sig=0")).status_code == 403


def test_exclusive_period_and_validation(api: httpx.Client, sandbox: SandboxHandle) -> None:
    with_period = sandbox.case("Active", exclusive_period=True)
    body = api.get(f"/cases/{with_period['id']}/exclusive-period").json()
    assert body["status"] in ("Active", "Expired", "Terminated") and isinstance(body["daysRemaining"], int)
    without = sandbox.case("PendingVerification", exclusive_period=False)
    r = api.get(f"/cases/{without['id']}/exclusive-period")
    assert r.status_code == 404 and r.json()["businessErrors"]
    info = sandbox.case("NeedsAdditionalDetails")
    v = api.get(f"/cases/{info['id']}/validation").json()
    assert v["needsInfo"] is True and v["items"] and v["items"][0]["resolutionArea"]


def test_seed_is_deterministic_and_reset_keeps_the_key(sandbox: SandboxHandle) -> None:
    first = sandbox.control.cases()
    sandbox.control.reset()
    assert sandbox.control.cases() == first
    sandbox.control.reset(seed=8)
    assert [c["id"] for c in sandbox.control.cases()] != [c["id"] for c in first]
    assert sandbox.control.info()["apiKeys"] == [sandbox.api_key]
    with sandbox.client() as api:
        assert api.get("/me").status_code == 200
    sandbox.control.reset()  # back to the server's own seed
    assert sandbox.control.cases() == first


@pytest.mark.parametrize("seed", [1, 3, 7])
def test_seeded_history_never_lies_in_the_future(seed: int) -> None:
    """Every seeded event (updates, collection start, chats, timeline, payments, period extensions)
    happened by now; only what is scheduled (due dates, period ends) may lie ahead. A future
    dateUpdated would sort above every real change in `Sort=DateUpdated:desc`."""
    import dataclasses

    from bot.sandbox.model import now
    from bot.sandbox.state import State

    scheduled = {"end", "newEndDate", "due_date"}
    cutoff = now().isoformat()[:19]
    state = State(seed, 1500, None)
    late: list[tuple[str, str]] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in scheduled:
                    walk(inner, f"{path}.{key}")
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, f"{path}[{i}]")
        elif (isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T"
              and value[:19] > cutoff):
            late.append((path, value))

    for case in state.cases.values():
        state.materialize(case)
        walk(dataclasses.asdict(case), case.reference)
    assert late == []


def test_seeded_cases_do_not_share_one_last_update() -> None:
    """Recent cases' history is clamped to before the seed's day start, but spread over the two days
    before it: hundreds of cases with one identical dateUpdated would make every incremental sweep
    (GET /cases?Sort=DateUpdated:desc until older than the last one) read page after page."""
    from collections import Counter

    from bot.sandbox.state import State

    state = State(3, 16_000, None)
    stamps = Counter(case.date_updated for case in state.cases.values() if case.date_updated)
    assert stamps.most_common(1)[0][1] <= 5
