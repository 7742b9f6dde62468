"""Long hash values stored in pieces short enough for Redis' compact hash encoding.

Redis keeps a small hash as a listpack (a few bytes per field) as long as every value is at most
`hash-max-listpack-value` bytes (64 by default); one longer value turns the whole hash into a
hashtable, about 400 B more per case for a case-state hash (bench/RESULTS.md, "Many workspaces"). The
case snapshot (~400 B of JSON) and the attention marks are longer than that, so they are stored in
pieces of at most `PIECE_BYTES`: the first under the field's own name, the next ones under
`<field>.1`, `<field>.2`, ... A reader joins consecutive pieces; a writer sets its pieces and deletes
every piece index it did not write, in the same command batch, so no stale piece is ever joined.

A value stored whole (before this layout, or longer than `MAX_PIECES` pieces) reads as before: a field
without `<field>.1` is its whole value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PIECE_BYTES = 60
"""The longest piece in bytes of UTF-8 (under Redis' default `hash-max-listpack-value`, 64)."""
MAX_PIECES = 32
"""A value that needs more pieces (over ~1.9 KB) is stored whole: correct, just not compact."""


def _split(value: str) -> list[str]:
    """`value` cut at character boundaries into pieces of at most PIECE_BYTES bytes of UTF-8."""
    if len(value) * 4 <= PIECE_BYTES or len(value.encode()) <= PIECE_BYTES:
        return [value]
    out: list[str] = []
    start = size = 0
    for i, ch in enumerate(value):
        n = 1 if ch < "\x80" else len(ch.encode())
        if size + n > PIECE_BYTES:
            out.append(value[start:i])
            start, size = i, 0
        size += n
    out.append(value[start:])
    return out


def piece_name(name: str, index: int) -> str:
    return name if index == 0 else f"{name}.{index}"


def spread(name: str, value: str) -> tuple[dict[str, str], list[str]]:
    """The fields to set for `name` = `value`, and the piece fields to delete in the same batch."""
    parts = _split(value)
    if len(parts) > MAX_PIECES:
        parts = [value]
    fields = {piece_name(name, i): part for i, part in enumerate(parts)}
    return fields, [piece_name(name, i) for i in range(len(parts), MAX_PIECES)]


def spread_all(mapping: Mapping[str, str], names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """`mapping` with each field of `names` it holds spread into pieces; and the pieces to delete."""
    out: dict[str, str] = {}
    stale: list[str] = []
    spreadable = set(names)
    for name, value in mapping.items():
        if name in spreadable:
            fields, gone = spread(name, value)
            out.update(fields)
            stale.extend(gone)
        else:
            out[name] = value
    return out, stale


def all_pieces(name: str) -> list[str]:
    """Every field a value of `name` may occupy (to delete it)."""
    return [piece_name(name, i) for i in range(MAX_PIECES)]


def whole(raw: Mapping[str, str], name: str) -> str | None:
    """The value of `name` joined from its pieces (None when absent)."""
    first = raw.get(name)
    if first is None:
        return None
    parts = [first]
    for i in range(1, MAX_PIECES):
        part = raw.get(f"{name}.{i}")
        if part is None:
            break
        parts.append(part)
    return "".join(parts)


def gather(raw: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """A hash as read (HGETALL) with the fields of `names` joined and their piece fields dropped."""
    out = {k: v for k, v in raw.items() if "." not in k or k.split(".", 1)[0] not in raw}
    for name in names:
        value = whole(raw, name)
        if value is not None:
            out[name] = value
    return out


WHOLE_LUA = """
local function whole(key, name)
  local first = redis.call('HGET', key, name)
  if not first then return false end
  local nxt = redis.call('HGET', key, name .. '.1')
  if not nxt then return first end
  local parts = {first, nxt}
  for i = 2, MAX_INDEX do
    local part = redis.call('HGET', key, name .. '.' .. i)
    if not part then break end
    parts[#parts + 1] = part
  end
  return table.concat(parts)
end
""".replace("MAX_INDEX", str(MAX_PIECES - 1))
"""A Lua function `whole(key, name)` (false when absent) to put at the top of a script."""
