"""Stand-ins for the hri_msgs 2.0 messages the node publishes, field for field as hri_msgs defines
them (ros4hri/hri_msgs, humble-devel: msg/IdsList.msg, NormalizedRegionOfInterest2D.msg,
NormalizedPointOfInterest2D.msg, Skeleton2D.msg). hri_msgs is not on PyPI: these check the mapping
without DDS; test_hri_consumer.py builds messages of the same definitions for a DDS consumer."""

from __future__ import annotations

from dataclasses import dataclass, field

from std_msgs.msg import Header

from deephar_ros.ros.standard_messages import HriTypes


@dataclass
class IdsList:
    header: Header = field(default_factory=Header)
    ids: list[str] = field(default_factory=list)


@dataclass
class NormalizedRegionOfInterest2D:
    header: Header = field(default_factory=Header)
    xmin: float = 0.0
    ymin: float = 0.0
    xmax: float = 0.0
    ymax: float = 0.0
    c: float = 0.0


@dataclass
class NormalizedPointOfInterest2D:
    x: float = 0.0
    y: float = 0.0
    c: float = 0.0


@dataclass
class Skeleton2D:
    """`NormalizedPointOfInterest2D[18] skeleton`: rclpy refuses another length, so does this."""

    NOSE = 0
    NECK = 1
    RIGHT_SHOULDER = 2
    RIGHT_ELBOW = 3
    RIGHT_WRIST = 4
    LEFT_SHOULDER = 5
    LEFT_ELBOW = 6
    LEFT_WRIST = 7
    RIGHT_HIP = 8
    RIGHT_KNEE = 9
    RIGHT_ANKLE = 10
    LEFT_HIP = 11
    LEFT_KNEE = 12
    LEFT_ANKLE = 13
    LEFT_EYE = 14
    RIGHT_EYE = 15
    LEFT_EAR = 16
    RIGHT_EAR = 17

    header: Header = field(default_factory=Header)
    skeleton: list[NormalizedPointOfInterest2D] = field(
        default_factory=lambda: [NormalizedPointOfInterest2D() for _ in range(18)]
    )

    def __post_init__(self) -> None:
        assert len(self.skeleton) == 18, "The 'skeleton' field must be a set or sequence with length 18"


HRI_STAND_INS = HriTypes(IdsList, NormalizedRegionOfInterest2D, Skeleton2D, NormalizedPointOfInterest2D)


# The same four messages as rosidl definitions, for a package named hri_msgs that
# test_hri_consumer.py builds where hri_msgs is not installed: DDS matches a publisher and a
# subscriber by type name and layout, so these must stay field for field as hri_msgs 2.0 has them.
HRI_MSGS_DEFINITIONS = {
    "IdsList": "std_msgs/Header header\nstring[] ids\n",
    "NormalizedPointOfInterest2D": "float32 x\nfloat32 y\nfloat32 c\n",
    "NormalizedRegionOfInterest2D": (
        "std_msgs/Header header\nfloat32 xmin\nfloat32 ymin\nfloat32 xmax\nfloat32 ymax\nfloat32 c\n"
    ),
    "Skeleton2D": (
        "std_msgs/Header header\n"
        + "".join(
            f"uint8 {name} = {index}\n"
            for name, index in vars(Skeleton2D).items()
            if name.isupper() and isinstance(index, int)
        )
        + "NormalizedPointOfInterest2D[18] skeleton\n"
    ),
}
