"""Labelling configurations of Label Studio projects: built from class names, and read back.

A configuration is Label Studio's XML: an object tag that shows the task
data (``<Text>``, ``<Image>`` or ``<Table>``) and a ``<Choices>`` tag whose
``<Choice>`` values are the class names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from energizer.errors import InvalidArgumentError

__all__ = ["DATA_KINDS", "ChoicesTag", "DataKind", "build_label_config", "parse_label_config"]

DataKind = Literal["text", "image", "table"]

# Label Studio's object tag for each kind of data. The tag's name and the
# task data key are the kind itself: `<Text name="text" value="$text"/>`.
DATA_KINDS: dict[str, str] = {"text": "Text", "image": "Image", "table": "Table"}


@dataclass(frozen=True)
class ChoicesTag:
    """The single-choice classification of a labelling configuration.

    Attributes:
        from_name: Name of the ``<Choices>`` tag, as annotation results name it.
        to_name: Name of the object tag that it labels.
        object_tag: Type of that tag, such as ``"Text"`` or ``"Table"``.
        data_key: Key of the task data that the object tag shows.
        choices: The ``<Choice>`` values (their ``alias`` where one is set),
            in the order of the configuration.
    """

    from_name: str
    to_name: str
    object_tag: str
    data_key: str
    choices: tuple[str, ...]


def build_label_config(data_kind: DataKind, class_names: Sequence[str]) -> str:
    """Return a configuration that shows ``data_kind`` data and requests one of ``class_names``.

    Task data carries the item under the key ``data_kind``: a string for
    ``"text"``, an image URL that people's browsers can open for ``"image"``,
    and a mapping of column names to values for ``"table"``.
    """
    view = ElementTree.Element("View")
    ElementTree.SubElement(view, DATA_KINDS[data_kind], name=data_kind, value=f"${data_kind}")
    choices = ElementTree.SubElement(
        view, "Choices", name="label", toName=data_kind, choice="single", showInline="true"
    )
    for name in class_names:
        ElementTree.SubElement(choices, "Choice", value=name)
    return ElementTree.tostring(view, encoding="unicode")


def parse_label_config(config: str, argument: str = "label_config") -> ChoicesTag:
    """Find the ``<Choices>`` tag of ``config`` and the data key that its object tag shows.

    Args:
        config: Label Studio XML.
        argument: What to name the configuration in error messages.

    Raises:
        InvalidArgumentError: ``config`` is not XML, or it has no single
            ``<Choices>`` tag with ``<Choice>`` values and an object tag that
            shows a task data key (``value="$key"``).
    """
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as error:
        raise InvalidArgumentError(
            argument, "Label Studio's labelling XML", f"text that is not XML ({error})", _FIX
        ) from error
    tags = list(root.iter("Choices"))
    if len(tags) != 1:
        raise InvalidArgumentError(
            argument, "exactly one <Choices> tag", f"{len(tags)} <Choices> tags", _FIX
        )
    tag = tags[0]
    from_name, to_name = tag.get("name"), tag.get("toName")
    choices = tuple(
        choice.get("alias") or choice.get("value") or "" for choice in tag.iter("Choice")
    )
    if not from_name or not to_name or not choices or "" in choices:
        raise InvalidArgumentError(
            argument,
            "a <Choices name=... toName=...> tag with a value on every <Choice>",
            f"name={from_name!r}, toName={to_name!r}, choices={list(choices)}",
            _FIX,
        )
    object_tags = [
        element for element in root.iter() if element.get("name") == to_name and element is not tag
    ]
    value = object_tags[0].get("value", "") if object_tags else ""
    if not value.startswith("$") or len(value) < 2:
        raise InvalidArgumentError(
            argument,
            f"an object tag named {to_name!r} that shows task data, such as value='$text'",
            f"value={value!r}" if object_tags else f"no tag named {to_name!r}",
            _FIX,
        )
    return ChoicesTag(
        from_name=from_name,
        to_name=to_name,
        object_tag=object_tags[0].tag,
        data_key=value[1:],
        choices=choices,
    )


_FIX = (
    "Pass a configuration such as <View><Text name='text' value='$text'/><Choices name='label' "
    "toName='text' choice='single'><Choice value='cat'/><Choice value='dog'/></Choices></View>, "
    "or pass data_kind and class_names to have one built."
)
