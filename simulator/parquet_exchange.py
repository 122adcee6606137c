"""The exchange databases as Parquet files, for cities too large for SQLite on one disk.

`generate --exchange-format parquet` writes each table of the four exchange databases as a
folder of Parquet files, `exchange/<system>/<table>/part-NNNNNN.parquet`, with the column
types the SQLite driver would hand the platform (text, BIGINT for whole numbers, DOUBLE for
amounts). The platform reads such a folder as a database (`parquet:///…/exchange/<system>` in
sources.yaml): the same SQL, the same rows. A table at L is a tenth of its SQLite size
(docs/simulator.md, "Parquet exchange").

Files are never edited in place. An advance appends its new rows as new parts; a key it
replaces is removed from the older parts by rewriting them once, at the end of the advance,
into one part that keeps their place in the order (as SQLite keeps a replaced row's new
version after every older row).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract import Table, load_contract
from simulator.buffered import BufferedTables
from simulator.schema import EXCHANGE_SYSTEMS

ROWS_PER_PART_GROUP = 100_000  # rows buffered per table before a row group is written
ARROW_TYPES = {"int": pa.int64(), "dec": pa.float64()}  # everything else is text
EMPTY_PART = "part-000000.parquet"  # schema only: a table that has no rows yet


class ParquetExchangeError(RuntimeError):
    """Rows that do not fit their table's Parquet schema, or a table written twice."""


def arrow_schema(table: Table, extra_columns: tuple[str, ...] = ()) -> pa.Schema:
    fields = [pa.field(c.name, ARROW_TYPES.get(c.kind, pa.string())) for c in table.columns]
    return pa.schema(fields + [pa.field(name, pa.string()) for name in extra_columns])


def table_dir(root: Path, table: Table) -> Path:
    return root / table.system / table.name


def parts(folder: Path) -> list[Path]:
    """A table's files in the order they were written."""
    return sorted(folder.glob("part-*.parquet"))


def row_count(folder: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in parts(folder))


class ParquetExchange(BufferedTables):
    """The Exchange interface of simulator.generate over Parquet folders."""

    flush_rows = ROWS_PER_PART_GROUP

    def __init__(self, out: Path, create: bool, drift_column: tuple[str, str, str] | None,
                 systems=EXCHANGE_SYSTEMS):  # fmt: skip
        super().__init__()
        self.root = Path(out) / "exchange"
        contract = load_contract()
        self.tables = {t.name: t for t in contract.tables() if t.system in systems}
        self.schemas = {
            name: arrow_schema(
                table,
                (drift_column[2],) if drift_column and drift_column[1] == name else (),
            )
            for name, table in self.tables.items()
        }
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.gone: dict[str, set[tuple[str, ...]]] = {}  # keys to remove from earlier parts
        for name, table in self.tables.items():
            folder = table_dir(self.root, table)
            folder.mkdir(parents=True, exist_ok=True)
            if create and not parts(folder):
                pq.write_table(self.schemas[name].empty_table(), folder / EMPTY_PART)
        # What an advance may rewrite: the parts that were there before it started.
        self.earlier = {name: parts(table_dir(self.root, t)) for name, t in self.tables.items()}

    # -- the rest of the Exchange interface --------------------------------------------------
    def commit(self) -> None:
        """Every part complete on disk (another process may read the files next)."""
        self.release()
        for table in list(self.writers):
            self._close_writer(table)

    def replace_key(self, table: str, key: str, rows: list[tuple]) -> None:
        if self.tables[table].system in self.deferred:
            raise ParquetExchangeError(f"{table} is written by the other process of this advance")
        self.gone.setdefault(table, set()).add(tuple(key.split("|")))
        self.insert(table, rows)

    def clear(self, table: str) -> None:
        self.buffers.pop(table, None)
        self._close_writer(table)
        for path in parts(table_dir(self.root, self.tables[table])):
            path.unlink()
        self.gone.pop(table, None)
        self.earlier[table] = []

    def max_value(self, table: str, column: str) -> int:
        self._flush(table)
        self._close_writer(table)
        files = parts(table_dir(self.root, self.tables[table]))
        values = pq.read_table(files, columns=[column]).column(column)
        return int(pc.max(values).as_py() or 0) if len(values) else 0

    def close(self) -> None:
        self.commit()
        for table in list(self.gone):
            self._remove_replaced(table)
        for name, table in self.tables.items():
            folder = table_dir(self.root, table)
            if not parts(folder):  # cleared and not written again
                pq.write_table(self.schemas[name].empty_table(), folder / EMPTY_PART)

    # -- writing ---------------------------------------------------------------------------------
    def _flush(self, table: str) -> None:
        if self.tables[table].system in self.deferred:
            return
        rows = self.buffers.get(table)
        if not rows:
            return
        batch = self._arrow(table, rows)
        rows.clear()
        self._writer(table).write_table(batch)

    def _arrow(self, table: str, rows: list[tuple]) -> pa.Table:
        schema = self.schemas[table]
        if len(rows[0]) != len(schema):
            raise ParquetExchangeError(
                f"{table} has {len(schema)} columns, a row has {len(rows[0])}: {rows[0]!r}"
            )
        columns = list(zip(*rows, strict=True))
        return pa.Table.from_arrays(
            [_column(table, f, values) for f, values in zip(schema, columns, strict=True)],
            schema=schema,
        )

    def _writer(self, table: str) -> pq.ParquetWriter:
        writer = self.writers.get(table)
        if writer is None:
            folder = table_dir(self.root, self.tables[table])
            path = folder / f"part-{_next_number(folder):06d}.parquet"
            writer = pq.ParquetWriter(path, self.schemas[table], compression="zstd")
            self.writers[table] = writer
        return writer

    def _close_writer(self, table: str) -> None:
        writer = self.writers.pop(table, None)
        if writer is not None:
            writer.close()

    def _remove_replaced(self, table: str) -> None:
        """Rewrite the parts from before this advance without the keys it replaced, as one
        part in the place of the first (the new versions are in later parts)."""
        earlier, gone = self.earlier.get(table, []), self.gone.pop(table)
        if not earlier or not gone:
            return
        import duckdb

        key = self.tables[table].key
        keys = pa.table({f"k{n}": [k[n] for k in gone] for n in range(len(key))})
        files = ", ".join(f"'{p}'" for p in earlier)
        match = " AND ".join(f'CAST(t."{c}" AS VARCHAR) = g.k{n}' for n, c in enumerate(key))
        target = earlier[0].with_suffix(".rewrite")
        with duckdb.connect(config={"memory_limit": "2GB", "threads": 2}) as conn:
            conn.register("gone_keys", keys)
            conn.execute(
                f"COPY (SELECT t.* FROM read_parquet([{files}]) AS t "
                f"WHERE NOT EXISTS (SELECT 1 FROM gone_keys AS g WHERE {match})) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
            )
        for path in earlier:
            path.unlink()
        target.rename(earlier[0])
        self.earlier[table] = [earlier[0]]


def _column(table: str, field: pa.Field, values: tuple) -> pa.Array:
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if field.type != pa.string():
            raise ParquetExchangeError(f"{table}.{field.name}: {exc}") from exc
        # A text column given numbers: stored as text, as SQLite's TEXT affinity would.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _next_number(folder: Path) -> int:
    numbers = [int(p.stem.split("-")[1]) for p in parts(folder)]
    return max(numbers, default=0) + 1


def merge_parts(out: Path, workers: list[Path], appended: tuple[str, ...] = ()) -> None:
    """Move each table's folder from the worker that wrote it into `out/exchange`. Only the
    `appended` tables may have been written by several workers: their files are numbered on
    after the first writer's, in the order of `workers`."""
    names = sorted(
        {f.relative_to(w / "exchange") for w in workers for f in (w / "exchange").glob("*/*")}
    )
    for name in names:
        folders = [w / "exchange" / name for w in workers if (w / "exchange" / name).is_dir()]
        written = [folder for folder in folders if row_count(folder)]
        if len(written) > 1 and name.name not in appended:
            raise ParquetExchangeError(f"two generate workers wrote table {name}: cannot merge")
        target = out / "exchange" / name
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(written[0] if written else folders[0], target)
        for folder in written[1:]:
            for path in parts(folder):
                if pq.ParquetFile(path).metadata.num_rows:
                    path.rename(target / f"part-{_next_number(target):06d}.parquet")


def shift_column(folder: Path, column: str, offset: int) -> None:
    """Add `offset` to a whole-number column in every file of a table (rewritten in place)."""
    for path in parts(folder):
        table = pq.read_table(path)
        if not table.num_rows:
            continue
        at = table.schema.get_field_index(column)
        shifted = pc.add(table.column(column), pa.scalar(offset, table.schema.field(at).type))
        pq.write_table(table.set_column(at, column, shifted), path, compression="zstd")


def table_counts(out: Path) -> dict[str, int]:
    return {folder.name: row_count(folder) for folder in sorted((out / "exchange").glob("*/*"))}
