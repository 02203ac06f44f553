"""Template filters: the workspace's one date format, units and numbers as people write them."""

from django import template

from workspace import display, selectors

register = template.Library()


@register.filter
def day(value):
    return display.day(value)


@register.filter
def moment(value):
    return display.moment(value)


@register.filter
def unit(value):
    return display.unit(value)


@register.filter
def num(value):
    return display.number(value)


@register.filter
def rule(value):
    return display.rule_name(value)


@register.filter
def tests(value):
    return display.tests(value)


@register.filter
def test_name(value):
    return display.test_name(value)


@register.filter
def plain(value):
    return display.plain_message(display.human(value))


@register.filter
def isodates(value):
    return display.human(value)


@register.filter
def human(value):
    return display.human(value)


@register.filter
def age(value):
    return selectors.age_text(value)


@register.filter
def words(value):
    return display.words(value)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
