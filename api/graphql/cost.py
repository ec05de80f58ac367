"""What a GraphQL document may ask for: its depth and its cost, checked before execution.

Depth counts fields from the root field (1) to the deepest leaf; introspection
fields (`__typename`, `__schema`, …) do not count. A document deeper than
`MAX_DEPTH` is refused while it is validated (`DepthLimit`, BAD_INPUT /
QUERY_TOO_DEEP).

Cost estimates the fields an answer may hold: every field costs 1, and the
`edges` of a connection (a field with a `first` argument returning a
`…Connection`) count once per item of its page, so a page's fields multiply
through nested connections: `topics(first: 100) { edges { node { timeline(first:
100) { edges { node { type } } } } } }` costs about 100 × 100 × 3. `first` is read
from the document, from the variables, or is the field's default page size; it is
counted up to `MAX_FIRST` (a larger one is refused by its own rule). Lists that are
not connections (a topic's tasks, route, …) are bounded by the domain and count
once. A document over `MAX_COST` is refused before anything runs (`CostLimit`,
BAD_INPUT / QUERY_TOO_COSTLY), naming its cost and the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_operation_ast,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from domain.errors import BadInputError
from projections.queries import MAX_FIRST

MAX_DEPTH = 12
MAX_COST = 20_000

Composite = GraphQLObjectType | GraphQLInterfaceType


# -- depth ----------------------------------------------------------------------------


def document_depth(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """How many fields deep `operation` nests, its root field counting 1."""
    fragments = _fragments(document)
    known: dict[str, int] = {}

    def depth(selections: SelectionSetNode, visiting: frozenset[str]) -> int:
        deepest = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue
                below = selection.selection_set
                deepest = max(deepest, 1 + (0 if below is None else depth(below, visiting)))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, depth(selection.selection_set, visiting))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in visiting:  # unknown or cyclic: refused elsewhere
                    continue
                if name not in known:
                    known[name] = depth(fragment.selection_set, visiting | {name})
                deepest = max(deepest, known[name])
        return deepest

    return depth(operation.selection_set, frozenset())


class DepthLimit(ValidationRule):
    """Refuse an operation nesting more than MAX_DEPTH fields (the root field is 1)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        found = document_depth(self.context.document, node)
        if found > MAX_DEPTH:
            refusal = BadInputError(
                "QUERY_TOO_DEEP",
                f"the query nests fields {found} deep; the limit is {MAX_DEPTH}",
            )
            self.report_error(GraphQLError(refusal.message, node, original_error=refusal))


# -- cost -----------------------------------------------------------------------------


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The estimated cost of the operation of `document` that would run (module doc)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None:
            values[definition.variable.name.value] = value_from_ast_untyped(
                definition.default_value
            )
    values.update(variables or {})
    return _Costing(schema, _fragments(document), values).selections(
        operation.selection_set, root, page=1
    )


class _Costing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.known: dict[tuple[str, int], int] = {}  # a fragment's cost on a page size
        self.visiting: set[str] = set()

    def selections(self, selections: SelectionSetNode, parent: Composite, page: int) -> int:
        """The cost of `selections` on `parent`; `page` is the page size when `parent`
        is a connection (its `edges` count once per item)."""
        return sum(self._selection(node, parent, page) for node in selections.selections)

    def _selection(self, node: Any, parent: Composite, page: int) -> int:
        if isinstance(node, FieldNode):
            return self._field(node, parent, page)
        if isinstance(node, InlineFragmentNode):
            target = self._type(node.type_condition.name.value if node.type_condition else None)
            return self.selections(node.selection_set, target or parent, page)
        if isinstance(node, FragmentSpreadNode):
            return self._spread(node.name.value, parent, page)
        return 0

    def _spread(self, name: str, parent: Composite, page: int) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:  # unknown or cyclic: refused elsewhere
            return 0
        key = (name, page)
        if key not in self.known:
            self.visiting.add(name)
            target = self._type(fragment.type_condition.name.value) or parent
            self.known[key] = self.selections(fragment.selection_set, target, page)
            self.visiting.discard(name)
        return self.known[key]

    def _field(self, node: FieldNode, parent: Composite, page: int) -> int:
        name = node.name.value
        if name.startswith("__"):  # introspection: answered from memory
            return 1
        definition = parent.fields.get(name)
        if definition is None:
            return 1
        target = get_named_type(definition.type)
        inner = 0
        if node.selection_set is not None and isinstance(
            target, GraphQLObjectType | GraphQLInterfaceType
        ):
            connection = _is_connection(definition.args, target)
            size = self._first(node, definition.args) if connection else 1
            inner = self.selections(node.selection_set, target, size)
        times = page if name in ("edges", "nodes") else 1
        return times * (1 + inner)

    def _first(self, node: FieldNode, arguments: Mapping[str, Any]) -> int:
        value: Any = arguments["first"].default_value
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value, value)
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_FIRST  # not an Int (refused when it runs) or no default: the most
        return min(max(value, 0), MAX_FIRST)

    def _type(self, name: str | None) -> Composite | None:
        found = None if name is None else self.schema.get_type(name)
        return found if isinstance(found, GraphQLObjectType | GraphQLInterfaceType) else None


def _is_connection(arguments: Mapping[str, Any], target: Any) -> bool:
    return "first" in arguments and str(getattr(target, "name", "")).endswith("Connection")


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class CostLimit(SchemaExtension):
    """Refuse an operation costing more than MAX_COST before it executes (the variables
    are known only then, after validation)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            schema = context.schema._schema
            cost = query_cost(schema, document, context.variables, context.operation_name)
            if cost > MAX_COST:
                refusal = BadInputError(
                    "QUERY_TOO_COSTLY",
                    f"the query costs {cost:,}; the limit is {MAX_COST:,} (each field counts "
                    "once per item of the pages around it: ask for smaller pages or fewer "
                    "nested connections)",
                )
                error = GraphQLError(refusal.message, original_error=refusal)
                context.result = ExecutionResult(data=None, errors=[error])
        yield
