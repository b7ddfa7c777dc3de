"""The sweep's table: one Parquet column per summary field, whatever each cell holds."""

import json

import pandas as pd

from testbed.sweep.cell import CellResult
from testbed.sweep.table import SweepFigures, write_results


def test_records_in_one_cell_and_none_in_another_are_one_column(tmp_path):
    violation = {"kind": "voltage_high", "element": "bus 40 phase b", "value": 1.03004}
    results = [CellResult("quiet", {"pv_share": 0.4}, 1.0, {"unavoidable_violations": []}),
               CellResult("sunny", {"pv_share": 0.8}, 1.0,
                          {"unavoidable_violations": [violation]}),
               CellResult("failed", {"pv_share": 1.0}, 1.0, None, "error: no feeder")]
    figures = SweepFigures("s", "s.toml", "default", "local", 3, 3, 0, 1, 3.0, 3.0)
    table = pd.read_parquet(write_results(tmp_path, results, figures))
    cells = table.set_index("cell")["unavoidable_violations"]
    assert json.loads(cells["quiet"]) == [] and json.loads(cells["sunny"]) == [violation]
    assert pd.isna(cells["failed"])
