"""JSON in, with a size limit, exact decimals and nothing PostgreSQL would choke on."""

from __future__ import annotations

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from api.exceptions import RequestTooLarge


def max_body_bytes() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)


def _check_text(value) -> None:
    """Refuse lone surrogates ("\\ud800"): valid JSON escapes, but not storable text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ParseError("JSON parse error - a string holds an invalid character.") from exc
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, but:

    - the body is read up to DATA_UPLOAD_MAX_MEMORY_SIZE and refused with 413 beyond it
      (DRF's JSON parser reads the stream directly, so Django's own limit never applies);
    - numbers with a fraction are parsed as Decimal, so "12.30" stays 12.30, never a float;
    - NaN/Infinity, invalid UTF-8, lone surrogates and absurd nesting are a 400, not a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        _check_text(data)
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
