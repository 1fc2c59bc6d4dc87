"""Label Studio configurations: built from class names and read back, with no server."""

from __future__ import annotations

import pytest

from energizer.annotators.label_studio_config import build_label_config, parse_label_config
from energizer.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("kind", "tag"), [("text", "Text"), ("image", "Image"), ("table", "Table")]
)
def test_built_config_reads_back(kind, tag):
    config = build_label_config(kind, ["cat", "dog"])

    choices = parse_label_config(config)

    assert choices.from_name == "label"
    assert choices.to_name == kind
    assert choices.object_tag == tag
    assert choices.data_key == kind
    assert choices.choices == ("cat", "dog")


def test_class_names_are_escaped():
    names = ["a & b", "<tag>", 'say "hi"']

    config = build_label_config("text", names)

    assert "&amp;" in config
    assert parse_label_config(config).choices == tuple(names)


def test_custom_config_with_alias():
    config = (
        '<View><Text name="review" value="$body"/><Choices name="mood" toName="review">'
        '<Choice value="Good" alias="good"/><Choice value="Bad"/></Choices></View>'
    )

    choices = parse_label_config(config)

    assert (choices.from_name, choices.to_name, choices.data_key) == ("mood", "review", "body")
    assert choices.choices == ("good", "Bad")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("<View><Text", "not XML"),
        ('<View><Text name="t" value="$t"/></View>', "0 <Choices> tags"),
        (
            '<View><Text name="t" value="$t"/>'
            '<Choices name="a" toName="t"><Choice value="x"/></Choices>'
            '<Choices name="b" toName="t"><Choice value="y"/></Choices></View>',
            "2 <Choices> tags",
        ),
        (
            '<View><Text name="t" value="$t"/><Choices name="a" toName="t"></Choices></View>',
            "a value",
        ),
        (
            '<View><Choices name="a" toName="t"><Choice value="x"/></Choices></View>',
            "no tag named 't'",
        ),
        (
            '<View><Text name="t" value="plain"/>'
            '<Choices name="a" toName="t"><Choice value="x"/></Choices></View>',
            "value='plain'",
        ),
    ],
)
def test_invalid_configs(config, message):
    with pytest.raises(InvalidArgumentError, match=message):
        parse_label_config(config)
