"""Joint layouts and label sets match the authors' layouts and class lists."""

import pytest

from deephar_ros.model.joints import PA16J2D, PA17J3D, get_layout
from deephar_ros.model.labels import load_labels


@pytest.mark.parametrize("layout", [PA17J3D, PA16J2D])
def test_flip_map_swaps_left_and_right_names(layout):
    assert sorted(layout.flip_map) == list(range(layout.num_joints))
    for i, j in enumerate(layout.flip_map):
        assert layout.flip_map[j] == i
        name, mirrored = layout.joint_names[i], layout.joint_names[j]
        if name.startswith("left_"):
            assert mirrored == "right_" + name.removeprefix("left_")
        elif name.startswith("right_"):
            assert mirrored == "left_" + name.removeprefix("right_")
        else:
            assert i == j


@pytest.mark.parametrize("layout", [PA17J3D, PA16J2D])
def test_bones_connect_every_joint_into_one_figure(layout):
    reached = {layout.root}
    for _ in range(layout.num_joints):
        for a, b in layout.bones:
            if a in reached or b in reached:
                reached |= {a, b}
    assert reached == set(range(layout.num_joints))
    assert layout.joint_names[layout.root] == "pelvis"
    assert set(layout.torso) <= set(range(layout.num_joints))


def test_layouts_follow_the_authors_sizes_and_names():
    assert (PA17J3D.num_joints, PA17J3D.dim) == (17, 3)
    assert (PA16J2D.num_joints, PA16J2D.dim) == (16, 2)
    assert PA17J3D.joint_names[16] == "spine"
    assert PA17J3D.index("right_shoulder") == 4
    assert get_layout("pa16j2d") is PA16J2D
    with pytest.raises(ValueError, match="unknown joint layout"):
        get_layout("coco17")
    with pytest.raises(ValueError, match="no joint"):
        PA16J2D.index("nose")


def test_ntu60_labels_in_the_authors_order():
    labels = load_labels("ntu60")
    assert len(labels) == len(set(labels)) == 60
    assert labels[0] == "drink water"
    assert labels[22] == "hand waving"
    assert labels[42] == "falling"
    assert labels[59] == "walking apart from each other"


def test_penn_action_labels_sorted_fifteen():
    labels = load_labels("penn_action")
    assert len(labels) == 15
    assert labels == sorted(labels)
    assert labels[0] == "baseball_pitch" and labels[-1] == "tennis_serve"


def test_unknown_label_set_is_refused():
    with pytest.raises(ValueError, match="unknown label set"):
        load_labels("kinetics400")
