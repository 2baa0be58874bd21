"""AtomicPusher: TFX's Pusher whose filesystem pushes are atomic, exclusive, verified and never duplicated."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.pusher.executor import EXAMPLES_KEY, AtomicPushExecutor

__all__ = ["AtomicPusher"]


class AtomicPusherSpec(component_spec.ComponentSpec):
    """TFX's PusherSpec plus the optional examples to verify the staged model with."""

    PARAMETERS = standard_component_specs.PusherSpec.PARAMETERS
    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = standard_component_specs.PusherSpec.OUTPUTS


class AtomicPusher(base_component.BaseComponent):
    """Pushes blessed models to numbered versions; see components/pusher/executor.py for what it adds."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)

    def __init__(
        self,
        model: channel.BaseChannel,
        model_blessing: channel.BaseChannel,
        push_destination: pusher_pb2.PushDestination,
        examples: channel.BaseChannel | None = None,
    ):
        """Builds the component.

        Args:
          model: The Trainer's model.
          model_blessing: The Evaluator's blessing; an unblessed model is not pushed.
          push_destination: Where versions go (a filesystem base directory).
          examples: Raw examples (ExampleGen's); the staged model must serve
            one of the eval split before it is published.
        """
        spec = AtomicPusherSpec(
            model=model,
            model_blessing=model_blessing,
            push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            examples=examples,
            pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
