"""CASEROOM_SECRET_KEY (Fernet, rotation) and the workspace-scoped keys (one cluster slot each)."""

from __future__ import annotations

import inspect

import pytest
from redis.crc import key_slot

from bot.store.keys import Keys
from bot.store.secrets import SecretBox, SecretKeyError, Undecryptable, generate_key


def test_secret_box_round_trip_hides_the_value() -> None:
    box = SecretBox(generate_key())
    token = box.encrypt("deb-api-key-123")
    assert "deb-api-key-123" not in token
    assert box.decrypt(token) == "deb-api-key-123"


def test_rotation_newest_first_old_values_still_open_and_get_re_encrypted() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox(old_key)
    stored = old_box.encrypt("secret")
    rotated_box = SecretBox(f"{new_key},{old_key}")
    assert rotated_box.decrypt(stored) == "secret"
    assert rotated_box.needs_rotation(stored)
    fresh = rotated_box.rotate(stored)
    assert not rotated_box.needs_rotation(fresh)
    assert SecretBox(new_key).decrypt(fresh) == "secret"  # the old key can now be dropped
    with pytest.raises(Undecryptable):
        SecretBox(generate_key()).decrypt(stored)


# A fixed valid key: a generated one would name the test differently on each xdist worker.
VALID_KEY = "boMTPvK4bBxQmuHPgadB_aMa8DmVZy7odayeSYN79Cg="


@pytest.mark.parametrize("value", ["", " , ", "not-a-fernet-key", f"{VALID_KEY},short"])
def test_bad_secret_keys_are_named(value: str) -> None:
    with pytest.raises(SecretKeyError, match="CASEROOM_SECRET_KEY"):
        SecretBox(value)


def _all_keys(keys: Keys) -> list[str]:
    """Every key method of `keys` called with placeholder arguments."""
    out: list[str] = []
    skip = {"for_workspace", "hash_tagged", "workspace_pattern"}
    for name, member in inspect.getmembers(Keys, inspect.isfunction):
        if name.startswith("_") or name in skip:
            continue
        params = [p for p in inspect.signature(member).parameters.values() if p.name != "self"]
        out.append(getattr(keys, name)(*[f"x{i}" for i in range(len(params))]))
    return out


def test_every_key_of_a_workspace_carries_it_in_one_slot() -> None:
    base = Keys("caseroom:v1")
    a, b = base.for_workspace("T0AAAA"), base.for_workspace("T0BBBB")
    keys_a, keys_b = _all_keys(a), _all_keys(b)
    assert len(keys_a) > 30  # every method, including those other branches append
    assert all(k.startswith("caseroom:v1:{T0AAAA}:") for k in keys_a)
    assert {key_slot(k.encode()) for k in keys_a} == {key_slot(b"{T0AAAA}")}
    assert not set(keys_a) & set(keys_b)


@pytest.mark.parametrize("bad", ["", "t123", "T1}", "T{1", "T1:*", "U12345", "T" * 40])
def test_workspace_ids_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        Keys("caseroom:v1").for_workspace(bad)


def test_single_workspace_keys_unchanged_and_hash_tagged_on_a_cluster() -> None:
    keys = Keys("caseroom:v1")
    assert keys.case_state("c1") == "caseroom:v1:case:c1:state"
    tagged = keys.hash_tagged()
    assert tagged.case_state("c1") == "{caseroom:v1}:case:c1:state"
    assert len({key_slot(k.encode()) for k in _all_keys(tagged)}) == 1
