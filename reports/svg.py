"""The drug-survival curve (Kaplan–Meier, clinical.cohort.kaplan_meier) as a server-drawn SVG:
no JavaScript, no assets from another host. Values are escaped; only numbers go into paths."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 180, 16, 44
COLOURS = {
    "overall": "#1f2937",
    "lack_of_efficacy": "#b45309",
    "adverse_event": "#b91c1c",
    "patient_or_parent_concern": "#1d4ed8",
    "remission": "#047857",
    "other": "#6b7280",
}
LABELS = {
    "overall": "any reason",
    "lack_of_efficacy": "lack of efficacy",
    "adverse_event": "adverse event",
    "patient_or_parent_concern": "patient/parental concern",
    "remission": "remission",
    "other": "other",
}


def _path(steps, x, y) -> str:
    """A step function: flat to each time, then down to the new survival."""
    points = [(0.0, 1.0)]
    for s in steps:
        t, surv = float(s["months"]), float(s["survival"])
        points.append((t, points[-1][1]))
        points.append((t, surv))
    d = [f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"]
    d += [f"L{x(t):.1f},{y(v):.1f}" for t, v in points[1:]]
    return " ".join(d)


def survival_svg(drug_survival: dict | str) -> str:
    """An SVG of the overall curve and one per end reason that has any event."""
    if not isinstance(drug_survival, dict):
        return ""
    curves = [("overall", drug_survival["overall"])]
    curves += [
        (reason, km)
        for reason, km in drug_survival["by_end_reason"].items()
        if any(s["events"] for s in km["steps"])
    ]
    t_max = max([float(s["months"]) for _, km in curves for s in km["steps"]] + [1.0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / t_max

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        'aria-labelledby="km-title"><title id="km-title">Drug survival (Kaplan–Meier): '
        "proportion still on treatment by months since the start</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#d1d5db"/>',
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{v:.2f}</text>"
        )
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#f3f4f6"/>'
        )
    ticks = 6
    for i in range(ticks + 1):
        t = t_max * i / ticks
        out.append(
            f'<text x="{x(t):.1f}" y="{TOP + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="12" '
        'text-anchor="middle">months since the start</text>'
    )
    for i, (name, km) in enumerate(curves):
        colour = COLOURS.get(name, "#6b7280")
        width = 2.5 if name == "overall" else 1.5
        out.append(
            f'<path d="{_path(km["steps"], x, y)}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" data-curve="{escape(name)}"/>'
        )
        for s in km["steps"]:
            if s["censored"]:
                cx, cy = x(float(s["months"])), y(float(s["survival"]))
                out.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{cy - 4:.1f}" y2="{cy + 4:.1f}" '
                    f'stroke="{colour}"/>'
                )
        ly = TOP + 14 + 18 * i
        out.append(
            f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 32}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="{width}"/>'
        )
        out.append(
            f'<text x="{WIDTH - RIGHT + 38}" y="{ly + 4}" font-size="11">'
            f"{escape(LABELS.get(name, name))}</text>"
        )
    out.append("</svg>")
    return "".join(out)
