"""Channel, parameter and file names of the validation gate, shared by component and executor."""

ANOMALIES_KEY = "anomalies"
SCHEMA_KEY = "schema"
STATISTICS_KEY = "statistics"
EXAMPLES_KEY = "examples"
BASELINE_MODEL_KEY = "baseline_model"
BASELINE_STATISTICS_KEY = "baseline_statistics"
VALIDATED_SCHEMA_KEY = "validated_schema"
VERDICT_KEY = "verdict"
FAIL_ON_KEY = "fail_on"
TASK_KEY = "task"
MIN_EXAMPLES_KEY = "min_examples"
# JSON: the drift thresholds (settings.DriftThresholds), where drift scalars go (log_dir), and
# optional serving statistics (serving_statistics).
DRIFT_KEY = "drift"

# Custom property on the verdict artifact: 1 when the data passed.
PASSED_PROPERTY = "passed"
VERDICT_FILE = "verdict.json"
REPORT_FILE = "report.txt"
SCHEMA_FILE = "schema.pbtxt"
