"""Operations tests print what they measured, also when they pass."""

from collections.abc import Callable

import pytest


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def emit(line: str) -> None:
        with capsys.disabled():
            print(line.strip())

    return emit
