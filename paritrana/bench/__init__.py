"""`paritrana bench`: a national enrolment wave measured end to end and against the machine's raw limits."""
