import logging

from shared.observability import MaskedJsonFormatter


def test_personal_data_is_masked_in_messages_and_tracebacks() -> None:
    formatter = MaskedJsonFormatter("enrolment")
    try:
        raise ValueError("NIK 3672015501990001 rejected")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "worker %s HP %s nama %s", (
            "3672015501990001", "0812-3456-7890", "Siti Rahmawati"), exc_info=__import__("sys").exc_info())
    line = formatter.format(record)
    assert "3672015501990001" not in line
    assert "0812-3456-7890" not in line and "81234567890" not in line
    assert "Rahmawati" not in line
    assert '"service": "enrolment"' in line
