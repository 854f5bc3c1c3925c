"""The marketing report as one self-contained HTML page: headline KPIs, funnels, uplift with intervals, weekly
rates, cohort retention, segment sizes, RFM migration, satisfaction and personas. Inline CSS and SVG only (no
script, no external font or image), so the file opens offline and can be mailed or stored as it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from cdp.measure import charts
from cdp.measure.charts import number, percent

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f3f4f6;color:#111827}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}h3{font-size:14px;margin:12px 0 6px;color:#374151}
.sub{color:#6b7280;font-size:13px;margin-bottom:20px}
section{background:#fff;border-radius:10px;padding:18px 20px;margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.card{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card b{display:block;font-size:22px;margin-top:4px}.card span{font-size:12px;color:#6b7280}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:12px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{text-align:right;padding:5px 8px;border-bottom:1px solid #e5e7eb}
th:first-child,td:first-child{text-align:left}.note{font-size:12px;color:#6b7280}.empty{color:#6b7280;font-style:italic}
.ok{color:#15803d;font-weight:600}.wait{color:#b45309}svg.chart{max-width:100%;height:auto;display:block}
"""
FUNNEL_STEPS = (("sent", "sent"), ("delivered", "delivered"), ("opened", "opened"), ("clicked", "clicked"))


def _shown(value: float | None, format_: charts.Format = percent) -> str:
    return "–" if value is None else format_(value)


def _empty(reason: str) -> str:
    return f'<p class="empty">{escape(reason)}</p>'


def _section(title: str, body: str, note: str = "") -> str:
    return f"<section><h2>{escape(title)}</h2>{body}{f'<p class=note>{escape(note)}</p>' if note else ''}</section>"


def _headline(report: dict[str, Any]) -> str:
    head, retention = report["headline"], report["retention"]
    win_back = report["segments"]["win_back"]
    satisfaction = report["satisfaction"]
    rates = head["rates"]
    cards = [
        ("Messages sent", number(head["counts"]["sent"])), ("Delivery rate", _shown(rates["delivery"])),
        ("Open rate", _shown(rates["open"])), ("Click rate", _shown(rates["click"])),
        ("Conversion rate", _shown(rates["conversion"])), ("Attributed revenue", number(head["revenue"])),
        ("ROI", "–" if head["roi"] is None else f"{head['roi']:,.1f}×"),
        ("Unsubscribe rate", _shown(rates["unsubscribe"])), ("Complaint rate", _shown(rates["complaint"])),
        ("Repurchase rate", _shown(retention["repurchase_rate"])),
        ("Win-back rate", _shown(win_back["rate"] if win_back else None)),
        ("NPS", _shown(satisfaction["nps"], lambda v: f"{v:+.0f}")),
        ("CSAT", _shown(satisfaction["csat"], lambda v: f"{v:.0f}%")),
    ]  # fmt: skip
    return '<div class="cards">' + "".join(f'<div class="card"><span>{escape(name)}</span><b>{escape(value)}</b></div>'
                                           for name, value in cards) + "</div>"  # fmt: skip


def _funnels(report: dict[str, Any]) -> str:
    if not report["funnels"]:
        return _empty("No messages yet: funnels appear once journeys or campaigns have sent.")
    blocks = []
    for funnel in report["funnels"]:
        counts = funnel["counts"]
        items = [(name, float(counts[event]), number(counts[event])) for event, name in FUNNEL_STEPS]
        items.append(("converted", float(funnel["conversions"]), f"{number(funnel['conversions'])} · {number(funnel['revenue'])} revenue"))
        title = f"{funnel['origin']} {funnel['origin_name']}"
        blocks.append(f"<div><h3>{escape(title)}</h3>{charts.bars(items, f'funnel of {title}', scale_to=max(counts['sent'], 1))}</div>")
    return f'<div class="grid">{"".join(blocks)}</div>'


def _uplift(report: dict[str, Any]) -> str:
    results = report["uplift"]
    if not results:
        return _empty("No holdouts yet: give a journey or campaign a holdout percentage to measure its uplift.")
    items = [(f"{r['origin_name']} · {'all' if r['variant'] == '*' else r['variant']}", r["absolute_lift"],
              tuple(r["absolute_lift_interval"]), r["significant"]) for r in results]  # fmt: skip
    chart = charts.intervals(items, "conversion rate lift against the holdout, with 95% intervals")
    rows = "".join(
        f"<tr><td>{escape(r['origin'])} {escape(r['origin_name'])} · {escape('all' if r['variant'] == '*' else r['variant'])}</td>"
        f"<td>{r['messaged']['recipients']:,} / {r['holdout']['recipients']:,}</td>"
        f"<td>{percent(r['messaged']['conversion_rate'])} vs {percent(r['holdout']['conversion_rate'])}</td>"
        f"<td>{percent(r['absolute_lift'])} [{percent(r['absolute_lift_interval'][0])}, {percent(r['absolute_lift_interval'][1])}]</td>"
        f"<td>{_shown(r['relative_lift'])}</td>"
        f"<td>{number(r['revenue_per_recipient_lift'])}</td>"
        f"<td class=\"{'ok' if r['significant'] else 'wait'}\">{escape(r['verdict'])}</td></tr>"
        for r in results
    )
    table = ("<table><tr><th>journey / campaign · variant</th><th>messaged / holdout</th><th>conversion</th>"
             "<th>lift [95% CI]</th><th>relative</th><th>revenue / recipient lift</th><th>verdict</th></tr>"
             f"{rows}</table>")  # fmt: skip
    return chart + table


def _weekly(report: dict[str, Any]) -> str:
    weeks = report["weekly"]
    if len(weeks) < 2:
        return _empty("Rates over time appear after two weeks of messages.")
    series = [(name, [week["rates"][name] for week in weeks]) for name in ("open", "click", "conversion", "unsubscribe")]
    return charts.lines([week["week"] for week in weeks], series, "weekly message rates", shown=percent, width=1000)


def _retention(report: dict[str, Any]) -> str:
    cohorts = report["retention"]["cohorts"]
    if not cohorts:
        return _empty("No customers with a signup date yet.")
    months = len(cohorts[0]["retention"])
    rows = [f"{c['cohort']} ({c['size']:,})" for c in cohorts]
    cells = [list(cohort["retention"]) for cohort in cohorts]
    return charts.heatmap(rows, [f"month {n}" for n in range(months)], cells, "retention by monthly signup cohort",
                          cell=52)  # fmt: skip


def _segments(report: dict[str, Any]) -> str:
    segments = report["segments"]
    if not segments["sizes"]:
        return _empty("No segment snapshots yet: sizes and migration appear after segments have been computed.")
    sizes = segments["sizes"]
    names = sorted({name for run in sizes for name in run["sizes"]})
    largest = sorted(names, key=lambda name: -sizes[-1]["sizes"].get(name, 0))[:8]
    if len(sizes) < 2:
        return charts.bars([(name, float(sizes[-1]["sizes"][name]), number(sizes[-1]["sizes"][name])) for name in largest],
                           "segment sizes")  # fmt: skip
    return charts.lines([run["run"] for run in sizes], [(name, [run["sizes"].get(name) for run in sizes]) for name in largest],
                        "segment sizes over time", width=1000)  # fmt: skip


def _rfm(report: dict[str, Any]) -> str:
    migration = report["segments"]["rfm_migration"]
    if not migration or not migration["matrix"]:
        return _empty("RFM migration appears once two segment runs a while apart are stored.")
    matrix = migration["matrix"]
    sources = list(matrix)
    targets = sorted({target for row in matrix.values() for target in row})
    cells: list[list[float | None]] = [[float(matrix[s][t]) if t in matrix[s] else None for t in targets] for s in sources]
    grid = charts.heatmap([s.removeprefix("rfm_") for s in sources], [t.removeprefix("rfm_") for t in targets], cells,
                          "RFM migration: profiles from each segment (rows) to each segment (columns)", shown=number)  # fmt: skip
    return f"<p class=note>from {escape(migration['from_day'])} (rows) to {escape(migration['to_day'])} (columns)</p>{grid}"


def _satisfaction(report: dict[str, Any]) -> str:
    monthly = report["satisfaction"]["monthly"]
    if not monthly:
        return _empty("No NPS or CSAT answers yet.")
    return charts.lines([m["month"] for m in monthly], [("NPS", [m["nps"] for m in monthly]), ("CSAT %", [m["csat"] for m in monthly])],
                        "NPS and CSAT by month")  # fmt: skip


def _personas(personas: Sequence[dict[str, Any]]) -> str:
    cards = "".join(
        f'<div class="card"><span>{escape(str(p.get("name", "")))}</span><b>{_shown(p.get("size"), number)}</b>'
        f'<span>{escape(str(p.get("description", "")))}</span></div>'
        for p in personas
    )
    return f'<div class="cards">{cards}</div>'


def persona_cards(personas: Mapping[str, Any] | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Personas as cards: the segment run's `{segment: facts}` (size, revenue share, order value, CLV...) or cards
    already named."""
    if not isinstance(personas, Mapping):
        return list(personas)
    return [{"name": name, "size": facts.get("size"),
             "description": f"revenue share {facts.get('revenue_share', 0):.0%}, average order "
                            f"{facts.get('average_order_value') or 0:,.2f}"}
            for name, facts in personas.items() if isinstance(facts, Mapping)]  # fmt: skip


def render(report: dict[str, Any], personas: Mapping[str, Any] | Sequence[dict[str, Any]] = ()) -> str:
    """The report page; personas (name, size, description): `personas` when given, else the report's."""
    personas = persona_cards(personas or report.get("personas") or ())
    rules = report["rules"]
    touches = ", else ".join(f"{t['event']} within {number(t['window_hours'])} h" for t in rules["touches"])
    sections = [
        _section("Journeys and campaigns", _funnels(report),
                 f"Attribution: an order counts once, for the last message {touches} before it."),
        _section("Uplift against holdouts", _uplift(report),
                 f"Conversion within {number(rules['uplift_window_hours'])} h of assignment, messaged against held out; "
                 "Newcombe hybrid score interval for the difference, Welch for revenue per recipient; "
                 f"sample size for {percent(rules['power'])} power."),
        _section("Message rates by week", _weekly(report)),
        _section("Retention by monthly signup cohort", _retention(report),
                 "Share of each cohort that ordered in each month since signing up."),
        _section("Segment sizes over time", _segments(report)),
        _section("RFM migration", _rfm(report)),
        _section("Customer satisfaction", _satisfaction(report)),
    ]
    if personas:
        sections.append(_section("Personas", _personas(personas)))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Marketing report {escape(report['computed_at'][:10])}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Marketing report</h1><div class=\"sub\">computed {escape(report['computed_at'])} · "
        f"{report['orders']:,} orders, {report['attributed_orders']:,} attributed to a message"
        f"{f' · messages since {escape(period_from[:10])}' if (period_from := report.get('period_from')) else ''}</div>"
        f"{_headline(report)}<div style=\"height:18px\"></div>{''.join(sections)}</main></body></html>\n"
    )
