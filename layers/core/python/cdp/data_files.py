"""Behaviour a marketer changes, kept as JSON data files: parsed into a pydantic model, every problem named."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from cdp.errors import field_errors

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_data_file(model: type[ModelT], text: str, origin: str, refusal: type[ValueError]) -> ModelT:
    """The file's content as `model`; `refusal` raised with `<origin>: <field>: <problem>; ...` when it is not."""
    try:
        return model.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise refusal(f"{origin}: not JSON ({error})") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{problem['field'] or '(top)'}: {problem['message']}" for problem in field_errors(error.errors())
        )
        raise refusal(f"{origin}: {problems}") from error
