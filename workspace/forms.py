"""One form per action, with only that action's fields. The forms only parse what was typed;
every rule is checked by the services they feed (patients/, schedules/)."""

from __future__ import annotations

from django import forms

from clinical import codes
from patients import choices

ROUTE_CHOICES = [("", "— from the product —"), *choices.ROUTE]
FORMULATION_CHOICES = [("", "— the usual product —"), *choices.FORMULATION]
WEEKDAY_CHOICES = [("", "—"), *choices.WEEKDAY]
DRUG_CHOICES = list(choices.DRUG)
BASIS_CHOICES = [
    ("mg_per_m2", "mg/m² (body-surface area)"),
    ("mg_per_kg", "mg/kg (weight)"),
    ("fixed", "fixed dose in mg"),
]
FREQUENCY_CHOICES = [("", "— the drug's usual —"), *choices.FREQUENCY]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs, format=format or "%Y-%m-%d")


class StartForm(forms.Form):
    drug = forms.ChoiceField(choices=DRUG_CHOICES)
    basis = forms.ChoiceField(label="Dose basis", choices=BASIS_CHOICES)
    amount = forms.DecimalField(
        label="Amount",
        max_digits=8,
        decimal_places=3,
        help_text="Methotrexate: per week (mg/m², mg/kg or mg). Mycophenolate: per dose.",
    )
    formulation = forms.ChoiceField(label="Product", choices=FORMULATION_CHOICES, required=False)
    route = forms.ChoiceField(choices=ROUTE_CHOICES, required=False)
    weekday = forms.ChoiceField(
        label="Day of the week",
        choices=WEEKDAY_CHOICES,
        required=False,
        help_text="Methotrexate: the one day it is taken, written in full.",
    )
    start_date = forms.DateField(widget=DateInput)
    dose_mg = forms.DecimalField(
        label="Dose to prescribe (mg), if not the calculated one",
        max_digits=8,
        decimal_places=2,
        required=False,
        help_text="Blank: the calculator's dose. Another dose is checked the same way "
        "(e.g. above a cap: a hard stop a clinician may override with a reason).",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ChangeDoseForm(forms.Form):
    basis = forms.ChoiceField(label="Dose basis", choices=BASIS_CHOICES)
    amount = forms.DecimalField(label="New amount", max_digits=8, decimal_places=3)
    formulation = forms.ChoiceField(label="Product", choices=FORMULATION_CHOICES, required=False)
    effective_date = forms.DateField(label="From", widget=DateInput)
    dose_mg = forms.DecimalField(
        label="Dose to prescribe (mg), if not the calculated one",
        max_digits=8,
        decimal_places=2,
        required=False,
        help_text="Blank: the calculator's dose. Another dose is checked the same way "
        "(e.g. above a cap: a hard stop a clinician may override with a reason).",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class HoldForm(forms.Form):
    effective_date = forms.DateField(label="Held from", widget=DateInput)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class RestartForm(forms.Form):
    effective_date = forms.DateField(label="Restart on", widget=DateInput)
    dose_mg = forms.DecimalField(
        label="Dose (mg)",
        max_digits=8,
        decimal_places=2,
        required=False,
        help_text="Blank: the dose before the hold. Lower after raised liver tests (REF §1).",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class StopForm(forms.Form):
    effective_date = forms.DateField(label="Stopped on", widget=DateInput)
    end_reason = forms.ChoiceField(label="Why it ended", choices=choices.TREATMENT_END_REASON)
    reason = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 2}))


class ConfirmForm(forms.Form):
    """What a preview asks before saving."""

    override_reason = forms.CharField(
        label="Reason for overriding the stop",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    confirm_no_baseline = forms.BooleanField(
        label="I confirm: prescribe without baseline bloods; the baseline draw is due first",
        required=False,
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: what was done or decided. It is kept with the alert.",
    )


# --- Lab entry by panel ------------------------------------------------------------------
# Analytes of each panel and the unit preset for each (the canonical unit as a person writes
# it; any unit clinical.units accepts may be typed instead).
PANELS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "liver": (
        "Liver panel",
        (("alt", "U/L"), ("ast", "U/L"), ("albumin", "g/L")),
    ),
    "fbc": (
        "Full blood count",
        (
            ("wbc", "10*9/L"),
            ("neutrophils", "10*9/L"),
            ("lymphocytes", "10*9/L"),
            ("eosinophils", "10*9/L"),
            ("platelets", "10*9/L"),
            ("haemoglobin", "g/L"),
            ("mcv", "fL"),
        ),
    ),
    "renal": (
        "Renal panel",
        (("creatinine", "umol/L"), ("egfr", "mL/min/{1.73_m2}")),
    ),
}
PANEL_OF: dict[str, str] = {a: key for key, (_, rows) in PANELS.items() for a, _u in rows}


class PanelForm(forms.Form):
    """A panel typed at once: the collection date-time once, then value/unit/range per analyte.
    Blank rows are skipped; the accession is optional (the service gives one, marked manual)."""

    collected_at = forms.DateTimeField(
        label="Collected (date and time, clinic time)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    accession = forms.CharField(
        required=False,
        max_length=60,
        help_text="Optional for a hand-typed result: left blank, one is made and marked manual. "
        "With several tests, each is stored as <accession>-<TEST>.",
    )

    def __init__(self, *args, panel: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.panel = panel
        for analyte, preset in PANELS[panel][1]:
            self.fields[f"{analyte}_value"] = forms.CharField(required=False, max_length=30)
            self.fields[f"{analyte}_unit"] = forms.CharField(
                required=False, max_length=40, initial=_shown_unit(preset)
            )
            self.fields[f"{analyte}_low"] = forms.DecimalField(
                required=False, max_digits=12, decimal_places=4
            )
            self.fields[f"{analyte}_high"] = forms.DecimalField(
                required=False, max_digits=12, decimal_places=4
            )

    def rows(self):
        from workspace import display

        for analyte, _preset in PANELS[self.panel][1]:
            yield {
                "analyte": analyte,
                "name": display.test_name(analyte),
                "value": self[f"{analyte}_value"],
                "unit": self[f"{analyte}_unit"],
                "low": self[f"{analyte}_low"],
                "high": self[f"{analyte}_high"],
            }

    def clean(self):
        data = super().clean()
        if not any((data.get(f"{a}_value") or "").strip() for a, _ in PANELS[self.panel][1]):
            raise forms.ValidationError("Type at least one value.")
        return data


def _shown_unit(ucum: str) -> str:
    from workspace import display

    return display.unit(ucum)


ANALYTE_CHOICES = [(a.value, a.value) for a in codes.Analyte]
