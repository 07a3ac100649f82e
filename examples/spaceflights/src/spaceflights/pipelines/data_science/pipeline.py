"""Data science pipeline definition.

The same three nodes are instantiated twice, under the namespaces
``active_modelling_pipeline`` and ``candidate_modelling_pipeline``. Inside a
namespace, datasets and parameters are prefixed with the namespace name, except
``model_input_table`` which both variants share.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from .nodes import evaluate_model, split_data, train_model

# namespace -> extra tag put on every node of that variant
NAMESPACES = {
    "active_modelling_pipeline": "active",
    "candidate_modelling_pipeline": "candidate",
}


def _modelling_template() -> Pipeline:
    return Pipeline(
        [
            node(
                func=split_data,
                inputs=["model_input_table", "params:model_options"],
                outputs=["X_train", "X_test", "y_train", "y_test"],
                name="split_data_node",
                tags=["split"],
            ),
            node(
                func=train_model,
                inputs=["X_train", "y_train"],
                outputs="regressor",
                name="train_model_node",
                tags=["fit"],
            ),
            node(
                func=evaluate_model,
                inputs=["regressor", "X_test", "y_test"],
                outputs="metrics",
                name="evaluate_model_node",
                tags=["evaluation"],
            ),
        ],
        tags="training",
    )


def create_pipeline(**kwargs) -> Pipeline:
    template = _modelling_template()
    return sum(
        (
            Pipeline(
                template,
                namespace=namespace,
                inputs="model_input_table",
                tags=variant_tag,
            )
            for namespace, variant_tag in NAMESPACES.items()
        ),
        Pipeline([]),
    )
