"""Alert.clinic: the patient's clinic on the alert, for one index per clinic's alert list.

Before, GET /api/v1/alerts/?status=open joined every alert of that status (of every clinic) to
its patient to keep the clinic's, and counted them the same way: its cost grew with the other
clinics' alerts and with this clinic's patients. Now the page and its count are read from
(clinic, status, raised_at DESC, id DESC).

The copy cannot drift from the patient's clinic: on PostgreSQL a foreign key on (patient,
clinic) refers to the patient's (id, clinic), so an alert with another clinic is refused and a
patient moved to another clinic moves its alerts (ON UPDATE CASCADE). Other databases (SQLite,
for a local demo) rely on Patient.save().
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BACKFILL = (
    "UPDATE {table} SET clinic_id = (SELECT p.clinic_id FROM patients_patient p "
    "WHERE p.id = {table}.patient_id)"
)

PG_FORWARD = [
    "ALTER TABLE patients_patient ADD CONSTRAINT patient_id_clinic_key UNIQUE (id, clinic_id)",
    "ALTER TABLE schedules_alert ADD CONSTRAINT alert_clinic_is_patients "
    "FOREIGN KEY (patient_id, clinic_id) REFERENCES patients_patient (id, clinic_id) "
    "ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED",
]
PG_BACKWARD = [
    "ALTER TABLE schedules_alert DROP CONSTRAINT IF EXISTS alert_clinic_is_patients",
    "ALTER TABLE patients_patient DROP CONSTRAINT IF EXISTS patient_id_clinic_key",
]


def clinic_field(**extra):
    return models.ForeignKey(
        editable=False,
        help_text="The patient's clinic (a copy, kept equal by the database).",
        on_delete=django.db.models.deletion.PROTECT,
        related_name="alerts",
        to="patients.clinic",
        **extra,
    )


def backfill(apps, schema_editor):
    for table in ("schedules_alert", "schedules_historicalalert"):
        schema_editor.execute(BACKFILL.format(table=table))


def pg_constraints(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("schedules", "0003_alert_status_newest"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Nullable until the backfill below has given every alert its patient's clinic.
        migrations.AddField(model_name="alert", name="clinic", field=clinic_field(null=True)),
        migrations.AddField(
            model_name="historicalalert",
            name="clinic",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                help_text="The patient's clinic (a copy, kept equal by the database).",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="patients.clinic",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="alert", name="clinic", field=clinic_field()),
        migrations.RemoveIndex(model_name="alert", name="alert_status_newest"),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(
                fields=["clinic", "status", "-raised_at", "-id"],
                name="alert_clinic_status_newest",
            ),
        ),
        migrations.RunPython(pg_constraints(PG_FORWARD), pg_constraints(PG_BACKWARD)),
    ]
