from __future__ import annotations

from typing import Protocol

from django.core.paginator import EmptyPage, InvalidPage, PageNotAnInteger
from django.core.paginator import Paginator as DjangoPaginator
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

# Above this offset a page is checked against the count before it is read (no clinic has a
# billion rows of one list; PostgreSQL refuses an OFFSET beyond a bigint).
MAX_OFFSET = 2**31


class RowSource(Protocol):
    """What RowsPaginator pages: rows read by offset, and their count (api/readers.py)."""

    def rows(self, offset: int, limit: int) -> list[tuple]: ...

    def count(self) -> int: ...


class RowsPaginator(DjangoPaginator):
    """Django's paginator over a RowSource (the lean read paths, api/readers.py): the same
    pages, count and errors, with the COUNT asked only when the page cannot tell it.

    The page is read before the count: a page shorter than the page size is the last one, so
    the count is the rows before it plus its own (a patient's plan is nearly always one short
    page). A full page, ?page=last or a page past the end asks source.count(), as Django's
    paginator asks for every page.
    """

    def page(self, number):
        # Django's validate_number, less its upper bound (that needs the count): a slice needs a
        # whole number from 1.
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        bottom = (number - 1) * self.per_page
        if bottom > MAX_OFFSET:
            # Far past any real end (and past what an SQL OFFSET can hold, a bigint): ask the
            # count first, so the answer is Django's EmptyPage (404), not a database error.
            self.validate_number(number)
        rows = self.object_list.rows(bottom, self.per_page)
        if not self.orphans and len(rows) < self.per_page and (rows or number == 1):
            self.count = bottom + len(rows)  # the last page (or no rows at all)
        self.validate_number(number)  # past the last page: EmptyPage, as Django answers
        return self._get_page(rows, number, self)


class Pagination(PageNumberPagination):
    """`?page=` (from 1) and `?page_size=` (default 50, at most 500; more is capped).

    Unlike DRF's default, a page_size that is not a positive integer is a 400, not ignored."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {self.page_size_query_param: ["must be a positive integer."]}, code="invalid"
            )
        return min(size, self.max_page_size)

    def paginate_rows(self, source: RowSource, request, view=None) -> list[tuple] | None:
        """paginate_queryset for the lean read paths: the page as rows (tuples) of `source`,
        read with RowsPaginator. The page, count, links and errors are paginate_queryset's."""
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = RowsPaginator(source, page_size)
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            msg = self.invalid_page_message.format(page_number=page_number, message=str(exc))
            raise NotFound(msg) from exc
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True  # the browsable API's page links
        return self.page.object_list  # the list read (list(page) would index it row by row)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw == "":
            raise NotFound("Invalid page.")
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.page_query_param:
                p["schema"]["minimum"] = 1
            if p["name"] == self.page_size_query_param:
                p["schema"]["minimum"] = 1
                p["description"] = (
                    f"Results per page (default {self.page_size}; more than {self.max_page_size} "
                    f"gives {self.max_page_size})."
                )
        return params
