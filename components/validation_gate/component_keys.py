"""Channel, parameter and file names of the validation gate, shared by component and executor."""

ANOMALIES_KEY = "anomalies"
SCHEMA_KEY = "schema"
STATISTICS_KEY = "statistics"
EXAMPLES_KEY = "examples"
VALIDATED_SCHEMA_KEY = "validated_schema"
VERDICT_KEY = "verdict"
FAIL_ON_KEY = "fail_on"
TASK_KEY = "task"
MIN_EXAMPLES_KEY = "min_examples"
CODE_VERSION_KEY = "code_version"

# Custom property on the verdict artifact: 1 when the data passed.
PASSED_PROPERTY = "passed"
VERDICT_FILE = "verdict.json"
REPORT_FILE = "report.txt"
SCHEMA_FILE = "schema.pbtxt"
