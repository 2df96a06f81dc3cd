"""The knowledge base as CSV: `question,answer,alternatives`, alternatives separated by ` | `.

Reading collects every bad row with its line number instead of stopping at
the first, so one import run tells staff everything to fix.
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

COLUMNS = ("question", "answer", "alternatives")
ALTERNATIVES_SEPARATOR = " | "
QUESTION_MAX_LENGTH = 500


@dataclass(frozen=True)
class EntryRow:
    line: int
    question: str
    answer: str
    alternatives: tuple[str, ...]


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class CSVRowsInvalid(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:20]))


def _split_alternatives(value: str) -> tuple[str, ...]:
    seen: list[str] = []
    for part in value.replace("\r", "").split("|"):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return tuple(seen)


def csv_text_decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CSVRowsInvalid(
            [RowError(line=data.count(b"\n", 0, exc.start) + 1, message="not valid UTF-8")]
        ) from exc


def entry_rows_parse(text: str) -> list[EntryRow]:
    """Rows of a KB CSV; raises CSVRowsInvalid listing every bad line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    errors: list[RowError] = []
    try:
        header = next(reader)
    except StopIteration:
        raise CSVRowsInvalid([RowError(line=1, message="the file is empty")]) from None
    except csv.Error as exc:
        raise CSVRowsInvalid([RowError(line=1, message=f"not CSV: {exc}")]) from exc
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("question", "answer") if c not in names]
    if missing:
        raise CSVRowsInvalid(
            [
                RowError(
                    line=1,
                    message=f"the header must name {', '.join(COLUMNS)}; missing "
                    f"{', '.join(missing)}",
                )
            ]
        )
    position = {name: names.index(name) for name in COLUMNS if name in names}
    rows: list[EntryRow] = []
    first_line: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(names):
                errors.append(RowError(line, f"{len(record)} columns, the header has {len(names)}"))
                continue
            record = record + [""] * (len(names) - len(record))
            question = record[position["question"]].strip()
            answer = record[position["answer"]].strip()
            alternatives = (
                _split_alternatives(record[position["alternatives"]])
                if "alternatives" in position
                else ()
            )
            if not question:
                errors.append(RowError(line, "the question is empty"))
                continue
            if len(question) > QUESTION_MAX_LENGTH:
                errors.append(RowError(line, f"the question is over {QUESTION_MAX_LENGTH} chars"))
                continue
            if not answer:
                errors.append(RowError(line, "the answer is empty"))
                continue
            if question in first_line:
                errors.append(RowError(line, f"the question repeats line {first_line[question]}"))
                continue
            first_line[question] = line
            rows.append(EntryRow(line, question, answer, alternatives))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, f"not CSV: {exc}"))
    if errors:
        raise CSVRowsInvalid(errors)
    return rows


def entry_rows_write(rows: Iterable[tuple[str, str, list[str]]], out: io.TextIOBase) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for question, answer, alternatives in rows:
        writer.writerow([question, answer, ALTERNATIVES_SEPARATOR.join(alternatives)])
        count += 1
    return count


@dataclass(frozen=True)
class EvalQuery:
    line: int
    query: str
    expected: str  # "" when the query should not match


def eval_queries_parse(text: str) -> list[EvalQuery]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if "query" not in header:
        raise CSVRowsInvalid([RowError(1, "the header must name query,expected_question")])
    q = header.index("query")
    e = header.index("expected_question") if "expected_question" in header else None
    out: list[EvalQuery] = []
    for record in reader:
        if not record or not record[q].strip():
            continue
        expected = record[e].strip() if e is not None and e < len(record) else ""
        out.append(EvalQuery(reader.line_num, record[q].strip(), expected))
    return out
