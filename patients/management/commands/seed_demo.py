"""Load synthetic, clinically plausible demo data and print the logins (idempotent).

Two clinics; infants and toddlers with atopic dermatitis on weight-based methotrexate; adults
with dermatomyositis on methotrexate or mycophenolate; measurements and labs over several months,
one with an ALT above 3× ULN. Every name is invented. Dates are relative to today, so the demo
plan always has something upcoming, due and overdue.

Everything goes through the same services as the admin and API (dosing checks, lab rules,
planner), so the demo shows the real behaviour.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from patients.models import Clinic, DiseaseAssessment, Patient, StaffMembership

User = get_user_model()

NORTHSIDE = "Northside Dermatology"
EASTSIDE = "Eastside Rheumatology"


def months_ago(today: date, months: int, day_shift: int = 0) -> date:
    return today - timedelta(days=round(months * 30.4) - day_shift)


class Command(BaseCommand):
    help = "Create synthetic demo clinics, staff, patients and history; print logins."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print only the logins.")

    def handle(self, *args, **opts):
        from api.models import ApiToken

        password = settings.MTXMONITOR_DEMO_PASSWORD or secrets.token_urlsafe(9)
        created = False
        if not Clinic.objects.filter(name=NORTHSIDE).exists():
            with transaction.atomic():
                self._create()
            created = True
            self._evaluate_and_plan()

        users = ["admin", "dr.adeyemi", "nurse.nina", "viewer.vic", "dr.baker", "nurse.noor"]
        for username in users:
            u = User.objects.get(username=username)
            u.set_password(password)
            u.save(update_fields=["password"])
        # Keys are stored hashed (issue 14): a new demo key each run, the previous ones retired.
        lis = User.objects.get(username="lis-northside")
        ApiToken.objects.filter(user=lis).delete()
        _, token_key = ApiToken.issue(lis)
        # Nina's calendar feed (issue 17 item 6): only its hash is stored, so a new token each run.
        from schedules.calendar import feed_rotate, feed_url

        feed, feed_token = feed_rotate(nurse=User.objects.get(username="nurse.nina").membership)
        cohort_logins = self._seed_outcomes_cohort(password)

        self.stdout.write(
            self.style.SUCCESS(
                "Demo data loaded." if created else "Demo data already present (logins reset)."
            )
        )
        self.stdout.write(
            "\n  Admin:     http://127.0.0.1:8000/admin/\n"
            "  API docs:  http://127.0.0.1:8000/api/docs/   schema: /api/schema/\n"
            f"  Login:     admin / {password}   (superuser, sees both clinics)\n"
            f"  Staff:     dr.adeyemi (clinician), nurse.nina (nurse), viewer.vic (viewer) at "
            f"{NORTHSIDE};\n             dr.baker, nurse.noor at {EASTSIDE}; same password\n"
            f"  API token: {token_key}   (integration user lis-northside, {NORTHSIDE})\n"
            f"             export TOKEN={token_key}\n"
            f"  Calendar:  {feed_url(feed, feed_token)}\n"
            "             (nurse.nina's iCalendar feed; a new URL each run, the old one stops)\n"
        )
        self.stdout.write(cohort_logins)

    # --- issue 19: the outcomes demo (a third clinic reproducing the reference cohort) -------
    def _seed_outcomes_cohort(self, password: str) -> str:
        """28 synthetic children under 4 on methotrexate (reports/demo_cohort.py), once."""
        from reports.demo_cohort import COHORT_CLINIC, cohort_clinic, seed_cohort_clinic

        names = ("dr.cohen", "nurse.nadia", "viewer.val")
        if not Clinic.objects.filter(name=COHORT_CLINIC).exists():
            with transaction.atomic():
                clinic = cohort_clinic()
                doc = self._user("dr.cohen", "Dana", "Cohen", clinic=clinic, role="clinician")
                nurse = self._user("nurse.nadia", "Nadia", "Levi", clinic=clinic, role="nurse")
                self._user("viewer.val", "Val", "Mor", clinic=clinic, role="viewer")
                seed_cohort_clinic(clinician=doc, nurse=nurse)
        for username in names:
            u = User.objects.get(username=username)
            u.set_password(password)
            u.save(update_fields=["password"])
        return (
            f"  Outcomes:  dr.cohen, nurse.nadia, viewer.val at {COHORT_CLINIC} (28 children, "
            "the reference cohort);\n"
            "             its cohort report: http://127.0.0.1:8000/staff/reports/cohort/\n"
        )

    # --- creation ----------------------------------------------------------------------------
    def _user(self, username, first, last, *, clinic=None, role=None, staff=True, superuser=False):
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "is_staff": staff,
                "is_superuser": superuser,
            },
        )
        if clinic:
            StaffMembership.objects.get_or_create(
                user=user, defaults={"clinic": clinic, "role": role}
            )
        return user

    def _create(self) -> None:
        north = Clinic.objects.create(
            name=NORTHSIDE, time_zone="Europe/London", contact_email="derm-team@northside.example"
        )
        east = Clinic.objects.create(
            name=EASTSIDE, time_zone="America/New_York", contact_email="rheum-team@eastside.example"
        )
        self._user("admin", "Demo", "Admin", superuser=True)
        doc = self._user("dr.adeyemi", "Ayo", "Adeyemi", clinic=north, role="clinician")
        nina = self._user("nurse.nina", "Nina", "Novak", clinic=north, role="nurse")
        self._user("viewer.vic", "Vic", "Vance", clinic=north, role="viewer")
        self._user(
            "lis-northside",
            "Northside",
            "Lab system",
            clinic=north,
            role="integration",
            staff=False,
        )
        baker = self._user("dr.baker", "Beth", "Baker", clinic=east, role="clinician")
        noor = self._user("nurse.noor", "Noor", "Nadeem", clinic=east, role="nurse")
        self.today = north.today()
        t = self.today
        nn, nr = nina.membership, noor.membership

        # Infant, 14 months, atopic dermatitis: 0.4 mg/kg/week as 2 mg/mL oral solution.
        p = self._patient(
            north,
            "NS-1001",
            "Ivy",
            "Ashford",
            t - timedelta(days=426),
            "female",
            "atopic_dermatitis",
            [],
            nn,
        )
        start = months_ago(t, 4)
        self._measure(p, start - timedelta(days=7), "9.1", "74")
        self._measure(p, months_ago(t, 1), "9.8", "77")
        self._baseline_labs(p, start - timedelta(days=5), child=True)
        self._mtx(
            p,
            doc,
            start,
            "3.6",
            "oral_solution_2mg_ml",
            "saturday",
            basis=("mg_per_kg", "0.4"),
            reason="Severe atopic dermatitis refractory to topicals.",
        )
        for m in (3, 2, 1):
            self._routine_labs(p, months_ago(t, m), child=True)
        self._iga(p, start, 4, "EASI", "28.4")
        self._iga(p, months_ago(t, 1), 2, "EASI", "9.1")

        # Toddler, 3 years, atopic dermatitis: 0.5 mg/kg/week, dose increased 6 weeks ago.
        p = self._patient(
            north,
            "NS-1002",
            "Theo",
            "Brennan",
            t - timedelta(days=3 * 365 + 40),
            "male",
            "atopic_dermatitis",
            [],
            nn,
        )
        start = months_ago(t, 5)
        self._measure(p, start - timedelta(days=3), "13.6", "94")
        self._measure(p, t - timedelta(days=45), "14.2", "96")
        self._baseline_labs(p, start - timedelta(days=2), child=True)
        rx = self._mtx(
            p,
            doc,
            start,
            "5",
            "oral_solution_2.5mg_ml",
            "sunday",
            basis=("mg_per_kg", "0.35"),
            reason="Moderate-to-severe atopic dermatitis.",
        )
        for m in (4, 3, 2):
            self._routine_labs(p, months_ago(t, m), child=True)
        from patients.prescriptions import prescription_change_dose

        prescription_change_dose(
            prescription=rx,
            dose_mg="7",
            basis="mg_per_kg",
            basis_amount="0.5",
            effective_date=t - timedelta(days=42),
            reason="Partial response at 12 weeks (IGA 3).",
            user=doc,
        )
        self._routine_labs(p, t - timedelta(days=12), child=True)
        self._iga(p, start, 4, "EASI", "31.0")
        self._iga(p, start + timedelta(weeks=12), 3, "EASI", "17.5")

        # Adult amyopathic dermatomyositis on MTX 15 mg/m²/week — latest ALT above 3× ULN.
        p = self._patient(
            north,
            "NS-1003",
            "Maria",
            "Castell",
            date(1968, 3, 9),
            "female",
            "amyopathic_dermatomyositis",
            ["diabetes"],
            nn,
        )
        start = months_ago(t, 6)
        self._measure(p, start - timedelta(days=10), "68", "165")
        self._baseline_labs(p, start - timedelta(days=8))
        # Issue #15: methotrexate for active dermatomyositis is combination therapy initially
        # (REF §1: prednisone 0.5–1 mg/kg/day): prednisolone 0.5 mg/kg/day, 68 kg → 35 mg.
        from patients.prescriptions import prescription_start

        prescription_start(
            patient=p,
            drug="prednisolone",
            dose_mg="35",
            frequency="once_daily",
            formulation="prednisolone_tablet_5mg",
            start_date=start,
            basis="mg_per_kg",
            basis_amount="0.5",
            reason="Active dermatomyositis: combination therapy with methotrexate.",
            user=doc,
        )
        self._mtx(
            p,
            doc,
            start,
            "25",
            "sc_pen",
            "monday",
            basis=("mg_per_m2", "15"),
            route="subcutaneous",
            reason="Cutaneous dermatomyositis failing hydroxychloroquine.",
        )
        for m in (5, 4, 3, 2):
            self._routine_labs(p, months_ago(t, m))
        self._routine_labs(p, t - timedelta(days=2), alt="152", ast="96")
        self._iga(p, start, 3, "CDASI", "24")
        self._iga(p, start + timedelta(weeks=12), 2, "CDASI", "15")  # issue #15: review held

        # Adult dermatomyositis on mycophenolate, titrated to 1 g twice daily.
        p = self._patient(
            north,
            "NS-1004",
            "Daniel",
            "Okafor",
            date(1979, 11, 23),
            "male",
            "dermatomyositis",
            [],
            nn,
        )
        start = months_ago(t, 3)
        self._measure(p, start - timedelta(days=4), "82", "181")
        self._baseline_labs(p, start - timedelta(days=3))
        from patients.prescriptions import prescription_start

        rx = prescription_start(
            patient=p,
            drug="mycophenolate_mofetil",
            dose_mg="500",
            frequency="twice_daily",
            formulation="tablet_500mg",
            start_date=start,
            basis="fixed",
            reason="Methotrexate intolerance (nausea); refractory skin disease.",
            user=doc,
        ).prescription
        prescription_change_dose(
            prescription=rx,
            dose_mg="1000",
            effective_date=start + timedelta(days=28),
            reason="Titration to target.",
            user=doc,
        )
        for d in (7, 14, 21, 28, 42, 56, 70):
            self._routine_labs(p, start + timedelta(days=d), liver=d % 14 == 0)

        # Adult psoriasis with diabetes and obesity, stable on MTX 15 mg/week for a year.
        p = self._patient(
            north,
            "NS-1005",
            "Graham",
            "Pike",
            date(1961, 6, 30),
            "male",
            "psoriasis",
            ["diabetes", "obesity"],
            nn,
        )
        start = months_ago(t, 12)
        self._measure(p, start - timedelta(days=5), "104", "178")
        self._measure(p, months_ago(t, 2), "101", "178")
        self._baseline_labs(p, start - timedelta(days=5))
        self._mtx(
            p,
            doc,
            start,
            "15",
            "tablet_2.5mg",
            "wednesday",
            basis=("fixed", None),
            reason="Chronic plaque psoriasis, PASI 14.",
        )
        for m in (11, 10, 8, 6, 4, 2):
            self._routine_labs(p, months_ago(t, m))
        for weeks, iga in ((0, 3), (12, 2), (24, 1)):  # issue #15: the reviews were held
            self._iga(p, start + timedelta(weeks=weeks), iga, "PASI", str(4 * iga + 2))

        # Eastside: adult RA on MTX 20 mg/week (another clinic: invisible to Northside staff).
        p = self._patient(
            east,
            "ES-2001",
            "Rosa",
            "Delgado",
            date(1975, 2, 14),
            "female",
            "rheumatoid_arthritis",
            [],
            nr,
        )
        start = months_ago(t, 3)
        self._measure(p, start - timedelta(days=3), "64", "160")
        self._baseline_labs(p, start - timedelta(days=3))
        self._mtx(
            p,
            baker,
            start,
            "20",
            "tablet_2.5mg",
            "friday",
            basis=("fixed", None),
            reason="Active seropositive RA.",
        )
        for m in (2, 1):
            self._routine_labs(p, months_ago(t, m))

    def _patient(self, clinic, mrn, given, family, birth, sex, dx, risks, nurse):
        p = Patient(
            clinic=clinic,
            mrn=mrn,
            given_name=given,
            family_name=family,
            birth_date=birth,
            sex=sex,
            diagnosis=dx,
            risk_factors=risks,
            responsible_nurse=nurse,
        )
        p.full_clean()
        p.save()
        return p

    def _measure(self, p, on, weight, height):
        from patients.services import measurement_record

        return measurement_record(patient=p, measured_on=on, weight_kg=weight, height_cm=height)

    def _mtx(self, p, user, start, dose, formulation, weekday, *, basis, route="oral", reason=""):
        from patients.prescriptions import prescription_start

        folic_day = {
            "monday": "wednesday",
            "saturday": "monday",
            "sunday": "tuesday",
            "wednesday": "friday",
            "friday": "sunday",
        }[weekday]
        prescription_start(
            patient=p,
            drug="folic_acid",
            dose_mg="5",
            frequency="once_weekly",
            weekday=folic_day,
            formulation="folic_acid_tablet_5mg",
            start_date=start,
            reason="Companion to methotrexate.",
            user=user,
        )
        return prescription_start(
            patient=p,
            drug="methotrexate",
            dose_mg=dose,
            frequency="once_weekly",
            weekday=weekday,
            route=route,
            formulation=formulation,
            start_date=start,
            basis=basis[0],
            basis_amount=basis[1],
            reason=reason,
            user=user,
        ).prescription

    def _at(self, p, day: date) -> datetime:
        return datetime.combine(day, time(9, 30), tzinfo=p.clinic.tz)

    def _lab(self, p, day, analyte, value, unit, high=None, low=None):
        from patients.services import lab_result_record

        lab_result_record(
            patient=p,
            analyte=analyte,
            value=value,
            unit=unit,
            reference_low=low,
            reference_high=high,
            collected_at=self._at(p, day),
            accession=f"DEMO-{p.mrn}-{analyte.upper()}-{day:%Y%m%d}",
            source="demo",
        )

    def _blood_count(self, p, day, child=False):
        self._lab(p, day, "wbc", "7.2" if child else "6.4", "10*9/L", "11.0", "4.0")
        self._lab(p, day, "neutrophils", "3.1", "10^9/L", "7.5", "1.5")
        self._lab(p, day, "eosinophils", "0.3" if child else "0.2", "10*9/L", "0.5", "0.0")
        self._lab(p, day, "lymphocytes", "3.4" if child else "1.9", "10*9/L", "4.0", "1.0")
        self._lab(p, day, "platelets", "310" if child else "245", "10*9/L", "400", "150")
        self._lab(p, day, "haemoglobin", "118" if child else "136", "g/L", "160", "115")
        self._lab(p, day, "mcv", "82" if child else "91", "fL", "100", "80")

    def _routine_labs(self, p, day, child=False, alt="24", ast="22", liver=True):
        self._blood_count(p, day, child)
        if liver:
            self._lab(p, day, "alt", alt, "U/L", "25" if child else "40")
            self._lab(p, day, "ast", ast, "U/L", "40")
            self._lab(p, day, "albumin", "4.2", "g/dL", "5.0", "3.5")
            self._lab(p, day, "creatinine", "0.35" if child else "0.8", "mg/dL")
            if not child:
                self._lab(p, day, "egfr", "92", "mL/min/{1.73_m2}")

    def _baseline_labs(self, p, day, child=False):
        self._routine_labs(p, day, child)

    def _iga(self, p, on, iga, name, value):
        DiseaseAssessment.objects.create(
            patient=p,
            assessed_on=on,
            iga=iga,
            other_score_name=name,
            other_score_value=Decimal(value),
        )

    def _evaluate_and_plan(self) -> None:
        """Evaluate every demo result now (the worker would too) and plan every patient."""
        from patients.models import LabResult
        from schedules.services import evaluate_result, sync_plan

        for rid in LabResult.objects.order_by("collected_at", "id").values_list("id", flat=True):
            evaluate_result(rid)
        for pid in Patient.objects.values_list("id", flat=True):
            sync_plan(pid)
        # issue #15: the demo's serology (and adults' chest X-rays) were done at the referring
        # hospital before treatment; a chest X-ray is not applicable for the infants and
        # toddlers. Recorded as staff would (completed with a reason), so only real gaps show.
        from schedules.models import MonitoringEvent
        from schedules.services import event_complete_with_reason

        nurse = User.objects.get(username="nurse.nina")
        for event in MonitoringEvent.objects.filter(kind="baseline", status="planned"):
            if any(t in ("alt", "wbc") for t in event.tests):
                continue
            user = (
                nurse
                if event.patient.clinic.name == NORTHSIDE
                else User.objects.get(username="nurse.noor")
            )
            child = (event.target - event.patient.birth_date).days < 12 * 365
            if child and "chest_xray" in event.tests:
                event_complete_with_reason(
                    event=event,
                    user=user,
                    reason="not_applicable_for_age",
                    note="No chest X-ray for a young child without lung disease (clinician).",
                )
            else:
                event_complete_with_reason(
                    event=event,
                    user=user,
                    reason="done_elsewhere",
                    done_on=event.target,
                    note="Referring hospital's letter.",
                )
        for pid in Patient.objects.values_list("id", flat=True):
            sync_plan(pid)
