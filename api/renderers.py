"""JSON for the two busiest answers (the alert list, a patient's plan), written by orjson.

DRF's JSONRenderer writes a page of 50 alerts with their results in ~0.3 ms (the standard
library's encoder); orjson writes the same bytes in ~0.03 ms. Used by the views whose data is
built by api/readers.py - strings, integers, None, and lists and dicts of them, plus an alert's
`details` as loaded from its JSON column - where the two write the same text:

- compact (no spaces), UTF-8 unescaped: DRF's defaults (COMPACT_JSON, UNICODE_JSON);
- U+2028 and U+2029 escaped afterwards, as DRF escapes them (a JavaScript-safe subset);
- anything orjson does not write as DRF would - a date-time or date (passed through to DRF's
  encoder), a Decimal, a lazy string, an integer beyond 64 bits, a non-string key - goes to
  DRF's encoder or, if orjson refuses the whole value, to DRF's renderer;
- an indented answer (`Accept: application/json; indent=2`) is DRF's.

One known difference: a float is written in its shortest form (orjson 0.00001, Python 1e-05),
the same number to any JSON reader. Floats appear on these answers only inside `details`.
NaN cannot: JSON columns cannot hold it. tests/api/test_read_paths.py compares both answers
with DRF's renderer byte for byte.
"""

from __future__ import annotations

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # date-times and dates: DRF's format, not orjson's
_LINE_SEPARATORS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # U+2028, U+2029 in UTF-8


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or not self._orjson_writes_ours(accepted_media_type, renderer_context):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, default=_drf_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATORS[0] in out or _LINE_SEPARATORS[1] in out:
            out = out.replace(_LINE_SEPARATORS[0], b"\\u2028").replace(
                _LINE_SEPARATORS[1], b"\\u2029"
            )
        return out

    def _orjson_writes_ours(self, accepted_media_type, renderer_context) -> bool:
        return (
            self.get_indent(accepted_media_type, renderer_context or {}) is None
            and self.compact
            and not self.ensure_ascii
            and self.encoder_class is JSONEncoder
        )


_ENCODER = JSONEncoder()


def _drf_default(value):
    """What DRF's encoder makes of a value orjson leaves to it (a date-time: DRF's ISO form)."""
    return _ENCODER.default(value)


class CohortCSVRenderer(renderers.BaseRenderer):
    """The cohort report as CSV (`?format=csv` or `Accept: text/csv`); an error as CSV too."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        import csv
        import io

        from reports.csv import cohort_csv

        if isinstance(data, dict) and "table1" in data:
            return cohort_csv(data).encode()
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(["field", "code", "message"])
        for e in (data or {}).get("errors", []) if isinstance(data, dict) else []:
            w.writerow([e.get("field") or "", e.get("code", ""), e.get("message", "")])
        return out.getvalue().encode()
