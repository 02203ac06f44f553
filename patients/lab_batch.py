"""Batch ingestion of lab results: up to 1,000 a call, each one answered on its own.

Semantics are exactly those of `patients.services.lab_result_record` (which stays the one-result
path): a new accession is created; the same accession with the same content is a replay and
returns the stored row; the same accession with changed content is an amendment (history kept,
version bumped, evaluated again). What differs is only how it is done, to be fast:

- the patients of the batch are read in one query, the already stored accessions in one more
  (locked, in accession order, so concurrent batches cannot deadlock on each other);
- new results are validated in Python (the same field validators and `LabResult.clean()` that
  `full_clean()` runs, minus its per-row uniqueness queries, which the accession lookup replaces)
  and inserted with one `bulk_create` (and one for their django-simple-history rows);
- amendments, an accession repeated inside the batch, and anything that collides with a
  concurrent writer go through `lab_result_record` itself, one savepoint each.

One transaction per call. An invalid item is refused on its own (with its field errors) and never
costs the valid ones. Evaluation by the lab rules is queued after commit in chunks
(`schedules.tasks.evaluate_lab_results`); if the broker is down the results stay pending and the
periodic reconcile evaluates them (nothing is lost).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinical.types import ClinicalInputError
from mtxmonitor.bulk import insert_with_history
from patients.models import LabResult, Patient
from patients.services import _decimal_or_none, _same_content, lab_result_record

log = logging.getLogger(__name__)

MAX_BATCH = 1000
EVALUATION_CHUNK = 500
# LabResult.value and the canonical reference limits are DecimalField(max_digits=12,
# decimal_places=4): at most 8 digits before the point, once converted to the canonical unit.
CANONICAL_LIMIT = Decimal("1e8")
# Fields of the model whose name differs in the API/batch input.
FIELD_NAMES = {"reported_value": "value", "reported_unit": "unit"}

Outcome = Literal["created", "replayed", "amended", "rejected"]


@dataclass(frozen=True)
class BatchItemResult:
    outcome: Outcome
    result: LabResult | None = None
    error: ValidationError | None = None  # for "rejected": {field: [messages with codes]}


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _renamed(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return ValidationError({"__all__": exc.error_list})
    return ValidationError({FIELD_NAMES.get(k, k): v for k, v in exc.error_dict.items()})


def storage_problems(result: LabResult) -> ValidationError | None:
    """A normalised result whose canonical numbers cannot be stored (an absurd magnitude)."""
    for attr, field in (
        ("value", "value"),
        ("reference_low_canonical", "reference_low"),
        ("reference_high_canonical", "reference_high"),
    ):
        number = getattr(result, attr)
        if number is not None and abs(number) >= CANONICAL_LIMIT:
            return _error(
                field,
                f"{getattr(result, 'reported_value' if field == 'value' else field)} "
                f"{result.reported_unit} is out of range for {result.analyte} (converted: {number}).",
                "out_of_range",
            )
    return None


def check_storable(
    *, analyte: str, value: str, unit: str | None, reference_low=None, reference_high=None
) -> None:
    """Raise ValidationError if a result would not fit the database once converted.

    For the one-result path (`lab_result_record` validates before it normalises)."""
    probe = LabResult(
        analyte=analyte,
        reported_value=value,
        reported_unit=(unit or "").strip(),
        reference_low=_decimal_or_none(reference_low, "reference_low"),
        reference_high=_decimal_or_none(reference_high, "reference_high"),
    )
    probe.normalise()
    problem = storage_problems(probe)
    if problem:
        raise problem


@dataclass
class _Prepared:
    index: int
    patient: Patient
    accession: str
    fields: dict


def _prepare(item: Mapping, patients_by_id: dict, patients_by_mrn: dict) -> _Prepared:
    """The same checks and field values as `lab_result_record`, without touching the database."""
    from clinical.units import PRIMARY_LOINC, resolve_analyte

    patient = None
    pid, mrn = item.get("patient"), (item.get("patient_mrn") or "").strip()
    if pid is None and not mrn:
        raise _error("patient", "is required (the patient's id, or patient_mrn).", "required")
    if pid is not None:
        patient = patients_by_id.get(pid)
        if patient is None:
            raise _error("patient", f"no patient {pid} in your clinic.", "does_not_exist")
    if mrn:
        by_mrn = patients_by_mrn.get(mrn)
        if by_mrn is None:
            raise _error(
                "patient_mrn", f"no patient with MRN {mrn!r} in your clinic.", "does_not_exist"
            )
        if patient is not None and patient.pk != by_mrn.pk:
            raise _error("patient_mrn", "names another patient than `patient`.", "mismatch")
        patient = by_mrn

    try:
        code = resolve_analyte(item.get("analyte") or None, item.get("loinc") or None)
    except ClinicalInputError as exc:
        raise _error(exc.field, exc.reason) from exc
    collected_at = item.get("collected_at")
    if collected_at is None:
        raise _error("collected_at", "is required.", "required")
    if not isinstance(collected_at, datetime) or timezone.is_naive(collected_at):
        raise _error(
            "collected_at", "needs a time-zone offset (ISO 8601, e.g. +01:00).", "naive_datetime"
        )
    accession = (item.get("accession") or "").strip()
    if not accession:
        raise _error("accession", "is required.", "required")
    value = item.get("value")
    value_text = "" if value is None else str(value).strip()
    if not value_text:
        raise _error("value", "is required (a number, or the text as reported).", "required")
    fields = {
        "analyte": code.value,
        "loinc": (item.get("loinc") or "").strip() or PRIMARY_LOINC.get(code, ""),
        "reported_value": value_text,
        "reported_unit": (item.get("unit") or "").strip(),
        "reference_low": _decimal_or_none(item.get("reference_low"), "reference_low"),
        "reference_high": _decimal_or_none(item.get("reference_high"), "reference_high"),
        "collected_at": collected_at,
    }
    return _Prepared(-1, patient, accession, fields)


def _new_result(p: _Prepared, *, source: str, strict_unit: bool) -> LabResult:
    """An unsaved, validated, normalised result (what `lab_result_record` would insert)."""
    row = LabResult(
        patient=p.patient,
        clinic_id=p.patient.clinic_id,
        accession=p.accession,
        source=source,
        **p.fields,
    )
    row._strict_unit = strict_unit
    # full_clean() minus the database: field validators (the patient FK is known to exist, the
    # accession's uniqueness was checked by the caller) and the model's clean().
    errors: dict = {}
    try:
        row.clean_fields(exclude=["patient", "clinic"])
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        row.clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    # LabResult.clean() has normalised the row and checked that it can be stored.
    return row


def _record_one(p: _Prepared, *, source: str, strict_unit: bool) -> BatchItemResult:
    """Through `lab_result_record` itself, in a savepoint (an error costs only this item)."""
    try:
        check_storable(
            analyte=p.fields["analyte"],
            value=p.fields["reported_value"],
            unit=p.fields["reported_unit"],
            reference_low=p.fields["reference_low"],
            reference_high=p.fields["reference_high"],
        )
        with transaction.atomic():
            out = lab_result_record(
                patient=p.patient,
                analyte=p.fields["analyte"],
                loinc=p.fields["loinc"],
                value=p.fields["reported_value"],
                unit=p.fields["reported_unit"],
                collected_at=p.fields["collected_at"],
                accession=p.accession,
                reference_low=p.fields["reference_low"],
                reference_high=p.fields["reference_high"],
                source=source,
                strict_unit=strict_unit,
            )
    except ValidationError as exc:
        return BatchItemResult("rejected", error=_renamed(exc))
    return BatchItemResult(out.outcome, out.result)


def dispatch_evaluations(result_ids: Sequence[int]) -> None:
    """Queue the lab rules for these results, in chunks, once the transaction commits."""
    ids = list(result_ids)
    if not ids:
        return

    def send() -> None:
        from mtxmonitor.dispatch import publish
        from schedules.tasks import evaluate_lab_results

        for start in range(0, len(ids), EVALUATION_CHUNK):
            chunk = ids[start : start + EVALUATION_CHUNK]
            # Broker down: logged, and the reconcile sweep evaluates them later.
            publish(evaluate_lab_results, chunk, what=f"evaluation of {len(chunk)} lab result(s)")

    transaction.on_commit(send)


def _stored(clinic_id: int, accessions: list[str]) -> dict[str, LabResult]:
    """The already stored results of these accessions, locked (in accession order, so two
    batches lock in the same order and cannot deadlock)."""
    return {
        r.accession: r
        for r in LabResult.objects.select_for_update()
        .filter(clinic_id=clinic_id, accession__in=accessions)
        .order_by("accession")
    }


def lab_results_record_batch(
    *,
    clinic_id: int,
    items: Sequence[Mapping],
    source: str = "api",
    strict_unit: bool = False,
    user=None,
) -> list[BatchItemResult]:
    """Store up to MAX_BATCH results of one clinic; one answer per item, in the same order.

    Each item is a mapping with: `patient` (id) and/or `patient_mrn`, `analyte` and/or `loinc`,
    `value`, `unit`, `collected_at` (aware datetime), `accession`, optional `reference_low`,
    `reference_high`. Patients are looked up in `clinic_id` only (another clinic's patient is
    "does_not_exist").
    """
    if len(items) > MAX_BATCH:
        raise ValidationError(
            {
                "results": ValidationError(
                    f"at most {MAX_BATCH} results per batch.", code="max_length"
                )
            }
        )
    ids = {i.get("patient") for i in items if isinstance(i.get("patient"), int)}
    mrns = {(i.get("patient_mrn") or "").strip() for i in items} - {""}
    patients = (
        list(
            Patient.objects.select_related("clinic")
            .filter(clinic_id=clinic_id)
            .filter(Q(pk__in=ids) | Q(mrn__in=mrns))
        )
        if (ids or mrns)
        else []
    )
    by_id = {p.pk: p for p in patients}
    by_mrn = {p.mrn: p for p in patients}

    answers: list[BatchItemResult | None] = [None] * len(items)
    first: dict[str, _Prepared] = {}  # accession → its first item in this batch
    repeats: list[_Prepared] = []  # an accession seen earlier in the batch: after the first
    for index, item in enumerate(items):
        try:
            p = _prepare(item, by_id, by_mrn)
        except ValidationError as exc:
            answers[index] = BatchItemResult("rejected", error=exc)
            continue
        p.index = index
        if p.accession in first:
            repeats.append(p)
        else:
            first[p.accession] = p

    created_ids: list[int] = []
    with transaction.atomic():
        stored = _stored(clinic_id, sorted(first))
        to_create: list[tuple[_Prepared, LabResult]] = []
        for accession in sorted(first):
            p = first[accession]
            existing = stored.get(accession)
            if existing is None:
                try:
                    to_create.append((p, _new_result(p, source=source, strict_unit=strict_unit)))
                except ValidationError as exc:
                    answers[p.index] = BatchItemResult("rejected", error=_renamed(exc))
            elif existing.patient_id != p.patient.pk:
                answers[p.index] = BatchItemResult(
                    "rejected",
                    error=_error(
                        "accession",
                        f"{accession!r} is already used for another patient in this clinic; an "
                        "accession number identifies one result.",
                        "accession_in_use",
                    ),
                )
            elif _same_content(existing, {**p.fields, "source": source}):
                answers[p.index] = BatchItemResult("replayed", existing)
            else:
                answers[p.index] = _record_one(p, source=source, strict_unit=strict_unit)

        if to_create:
            rows = [row for _, row in to_create]
            try:
                with transaction.atomic():
                    insert_with_history(rows, LabResult, user=user)
            except IntegrityError:
                # A concurrent writer stored one of these accessions first: do them one by one,
                # as replays or amendments of what it stored.
                log.info("Lab batch collided with a concurrent writer; storing item by item.")
                for p, _ in to_create:
                    answers[p.index] = _record_one(p, source=source, strict_unit=strict_unit)
            else:
                for p, row in to_create:
                    answers[p.index] = BatchItemResult("created", row)
                # Queued by patient, then collection time: a chunk then holds each patient's
                # results together, in the order the rules should read them.
                created_ids = [
                    row.pk
                    for _, row in sorted(
                        to_create, key=lambda t: (t[1].patient_id, t[1].collected_at)
                    )
                ]

        for p in repeats:
            answers[p.index] = _record_one(p, source=source, strict_unit=strict_unit)

        dispatch_evaluations(created_ids)
    return [a for a in answers if a is not None]
