"""One base for every staff-UI (Django admin) class: clinic isolation and rights (issue #13).

Every view a model admin has - changelist (with its raw-id popup and date drill-down), change,
delete confirmation, history list, history version, autocomplete, list-filter choices,
foreign-key choices - goes through `get_queryset` (scoped to the user's clinic) or through the
permission methods, which check the object's clinic as well as the role. The rights are the one
table in `patients/tenancy.py` that the API uses too.

History (django-simple-history) is a read-only audit view: a version can be looked at, never
reverted (a clinical record is corrected by a new record with a reason, never rewritten).
A model registered with these bases but without history falls back to Django's own history
page instead of a 500.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from patients import tenancy


def _has_history(model) -> bool:
    return hasattr(model._meta, "simple_history_manager_attribute")


class ClinicScopedMixin:
    """Clinic isolation and role-based rights for an admin class or inline.

    `clinic_path` is the lookup from the model to its clinic id (e.g. "patient__clinic").
    """

    clinic_path = "patient__clinic"

    # --- Rows ------------------------------------------------------------------------------
    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, self.clinic_path)

    def _model_name(self) -> str:
        return self.model._meta.model_name

    def _clinic_path_for(self, model) -> str | None:
        if model is self.model:
            return self.clinic_path
        other = self.admin_site._registry.get(model)
        return getattr(other, "clinic_path", None)

    def object_in_clinic(self, request, obj) -> bool:
        """Is `obj` (this model's, or an inline's parent) a row of the user's clinic now?

        Read from the database, not from `obj`: a history version's fields may name another
        clinic or patient than the row has today.
        """
        if obj is None or request.user.is_superuser:
            return True
        model = type(obj)
        path = self._clinic_path_for(model)
        if path is None or obj.pk is None:
            return False
        cache = request.__dict__.setdefault("_mtx_in_clinic", {})
        key = (model._meta.label, obj.pk)
        if key not in cache:
            rows = model._default_manager.filter(pk=obj.pk)
            cache[key] = tenancy.scope(rows, request.user, path).exists()
        return cache[key]

    # --- Rights (patients/tenancy.py: RIGHTS) ----------------------------------------------
    def has_module_permission(self, request) -> bool:
        if request.user.is_superuser:
            return True
        role = tenancy.role_of(request.user)
        if role not in tenancy.STAFF_UI_ROLES:
            return False
        resource = tenancy.ADMIN_RESOURCES.get(self._model_name(), (None, None))[0]
        return resource is not None and tenancy.allowed(role, resource, "read")

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request) and self.object_in_clinic(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return tenancy.staff_may(request.user, self._model_name())

    def has_change_permission(self, request, obj=None) -> bool:
        return tenancy.staff_may(request.user, self._model_name()) and self.object_in_clinic(
            request, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Clinical records are corrected, never deleted (history is the point).
        return request.user.is_superuser

    # --- Choices ---------------------------------------------------------------------------
    def _scoped_choices(self, request, related_model, queryset=None):
        """The user's clinic's rows of `related_model`, or None when it is not clinic data."""
        if request.user.is_superuser:
            return None
        from django.contrib.auth import get_user_model

        from patients.models import Clinic

        if related_model is get_user_model():
            path = "membership__clinic"  # the clinic's staff only
        elif related_model is Clinic:
            path = "id"
        else:
            path = self._clinic_path_for(related_model)
        if path is None:
            return None
        qs = queryset if queryset is not None else related_model._default_manager.all()
        if related_model._meta.label == "patients.Prescription":
            qs = qs.select_related("superseded_by")  # its label says whether it is superseded
        return tenancy.scope(qs, request.user, path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        qs = self._scoped_choices(request, db_field.related_model, kwargs.get("queryset"))
        if qs is not None:
            kwargs["queryset"] = qs
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        qs = self._scoped_choices(request, db_field.related_model, kwargs.get("queryset"))
        if qs is not None:
            kwargs["queryset"] = qs
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        """A relation's filter offers only the values in the user's rows (never another clinic's
        clinic, nurse or patient)."""
        out = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                try:
                    field = self.model._meta.get_field(item)
                except Exception:  # not a field: Django's checks name it
                    field = None
                if isinstance(field, models.Field) and field.is_relation:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            out.append(item)
        return out

    # --- History: read-only ----------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None):
        if getattr(request, "_mtx_history_version", False):
            opts = self.model._meta
            fields = [f.name for f in (*opts.fields, *opts.many_to_many)]
            return [*super().get_readonly_fields(request, obj), *fields]
        return super().get_readonly_fields(request, obj)


class ScopedModelAdmin(ClinicScopedMixin, admin.ModelAdmin):
    """For a model without django-simple-history (its history page is Django's log)."""


class ScopedAdmin(ClinicScopedMixin, SimpleHistoryAdmin):
    """For a model with django-simple-history: its history is a read-only, scoped audit view."""

    def _require_own(self, request, object_id) -> None:
        if request.user.is_superuser:
            return
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            raise Http404("No such record in your clinic.")

    def get_urls(self):
        if not _has_history(self.model):
            return admin.ModelAdmin.get_urls(self)
        return super().get_urls()

    def history_view(self, request, object_id, extra_context=None):
        if not _has_history(self.model):
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        self._require_own(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is a read-only audit view: nothing is reverted.")
        self._require_own(request, object_id)
        request._mtx_history_version = True
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False


__all__ = [
    "ClinicScopedMixin",
    "ScopedAdmin",
    "ScopedModelAdmin",
]
