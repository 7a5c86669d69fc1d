"""A statistics answer (reports.answer) as CSV or XLSX: the same rows, suppressed as `<k`."""

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from referral.services import reports, stats

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def header(result: dict) -> list[str]:
    return ["period", *result["group_by"], "count"]


def records(result: dict) -> list[list]:
    """The rows as lists, suppressed counts as `<k`; the totals when nothing is grouped."""
    marker = f"<{result['k']}"
    return [[row["period"], *(row[name] for name in result["group_by"]),
             marker if row["count"] is None else row["count"]] for row in result["rows"]]


def filename(result: dict, extension: str) -> str:
    dims = "-".join(result["group_by"]) or "total"
    span = result["range"]
    return f"{result['metric']}_{result['period']}_{dims}_{span['from']}_{span['to']}.{extension}"


def to_csv(result: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header(result))
    writer.writerows([_safe(value) for value in row] for row in records(result))
    return out.getvalue()


def _safe(value):
    """Text a spreadsheet would run as a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def about(result: dict) -> list[tuple[str, object]]:
    """What the second sheet states: the range, k, the rule and what was hidden."""
    hidden = result["hidden"]
    people = "not stated" if hidden["people"] is None else f"{hidden['people']:.1%}"
    rows = [
        ("metric", result["metric"]),
        ("period", result["period"]),
        ("group by", ", ".join(result["group_by"]) or "(total)"),
        ("from", str(result["range"]["from"])),
        ("to", str(result["range"]["to"])),
        ("periods", ", ".join(result["periods"])),
        ("k", result["k"]),
        ("rule", reports.RULE.format(last=result["k"] - 1)),
        ("marker", f"<{result['k']} marks a suppressed cell (a small count, or a cell "
                   "suppressed so that small counts cannot be worked out)."),
        ("cells suppressed", f"{hidden['cells']:.1%}"),
        ("count in suppressed cells", people),
    ]
    if result["period"] in stats.VEILED and "referral_status" in result["group_by"]:
        rows.append(("referral status", reports.VEILED))
    return rows


def to_xlsx(result: dict) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "statistics"
    columns = header(result)
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    rows = records(result)
    for row in rows:
        sheet.append([_safe(value) for value in row])
    sheet.freeze_panes = "B2"
    for n, name in enumerate(columns, start=1):
        widest = max([len(str(name)), *(len(str(row[n - 1])) for row in rows)])
        sheet.column_dimensions[get_column_letter(n)].width = min(60, widest + 2)
    info = book.create_sheet("about")
    for label, value in about(result):
        info.append([label, value])
    info.column_dimensions["A"].width = 26
    info.column_dimensions["B"].width = 100
    for cell in info["A"]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
