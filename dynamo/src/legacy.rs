//! DynamoDB's legacy parameters (`AttributesToGet`, `Expected`, `AttributeUpdates`,
//! `KeyConditions`, `QueryFilter`, `ScanFilter`, `ConditionalOperator`), rewritten as the
//! expressions they stand for, with made-up placeholders, so one evaluator serves both.

use serde_json::Value as Json;
use shoal_types::json::value_from_typed_json;
use shoal_types::Value;

use crate::convert::{Body, Generated};
use crate::error::{ApiError, ApiResult};

fn value(json: &Json, what: &str) -> ApiResult<Value> {
    value_from_typed_json(json).map_err(|e| crate::convert::json_error(&e, what))
}

/// `AttributesToGet` as a projection expression.
pub fn projection(names: &[Json], generated: &mut Generated) -> ApiResult<String> {
    if names.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let mut parts = Vec::with_capacity(names.len());
    for name in names {
        let Json::String(name) = name else {
            return Err(ApiError::serialization("AttributesToGet must hold strings"));
        };
        parts.push(generated.name(name));
    }
    Ok(parts.join(", "))
}

fn joiner(operator: Option<&str>) -> ApiResult<&'static str> {
    match operator.unwrap_or("AND") {
        "AND" => Ok(" AND "),
        "OR" => Ok(" OR "),
        other => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"
        ))),
    }
}

/// One `{ComparisonOperator, AttributeValueList}` condition on attribute `name`.
fn comparison(
    name: &str,
    condition: &Body,
    generated: &mut Generated,
    key_condition: bool,
) -> ApiResult<String> {
    let operator = match condition.get("ComparisonOperator") {
        Some(Json::String(s)) => s.as_str(),
        _ => return Err(ApiError::validation("ComparisonOperator is required")),
    };
    let list: Vec<&Json> = match condition.get("AttributeValueList") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(a)) => a.iter().collect(),
        Some(_) => return Err(ApiError::serialization("AttributeValueList must be a list")),
    };
    let want = |n: usize| -> ApiResult<()> {
        if list.len() == n {
            Ok(())
        } else {
            Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Invalid number of argument(s) for the {operator} ComparisonOperator"
            )))
        }
    };
    let key_operators = ["EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN"];
    if key_condition && !key_operators.contains(&operator) {
        return Err(ApiError::validation(format!(
            "Unsupported operator on KeyCondition: {operator}"
        )));
    }
    let attr = generated.name(name);
    let mut arg = |i: usize, generated: &mut Generated| -> ApiResult<String> {
        let json = list.get(i).ok_or_else(|| ApiError::validation("missing argument"))?;
        Ok(generated.value(value(json, "AttributeValueList")?))
    };
    let binary =
        |symbol: &str,
         generated: &mut Generated,
         arg: &mut dyn FnMut(usize, &mut Generated) -> ApiResult<String>|
         -> ApiResult<String> { Ok(format!("{attr} {symbol} {}", arg(0, generated)?)) };
    Ok(match operator {
        "EQ" => {
            want(1)?;
            binary("=", generated, &mut arg)?
        }
        "NE" => {
            want(1)?;
            binary("<>", generated, &mut arg)?
        }
        "LE" => {
            want(1)?;
            binary("<=", generated, &mut arg)?
        }
        "LT" => {
            want(1)?;
            binary("<", generated, &mut arg)?
        }
        "GE" => {
            want(1)?;
            binary(">=", generated, &mut arg)?
        }
        "GT" => {
            want(1)?;
            binary(">", generated, &mut arg)?
        }
        "NOT_NULL" => {
            want(0)?;
            format!("attribute_exists({attr})")
        }
        "NULL" => {
            want(0)?;
            format!("attribute_not_exists({attr})")
        }
        "CONTAINS" => {
            want(1)?;
            format!("contains({attr}, {})", arg(0, generated)?)
        }
        "NOT_CONTAINS" => {
            want(1)?;
            format!("NOT contains({attr}, {})", arg(0, generated)?)
        }
        "BEGINS_WITH" => {
            want(1)?;
            format!("begins_with({attr}, {})", arg(0, generated)?)
        }
        "BETWEEN" => {
            want(2)?;
            let low = arg(0, generated)?;
            let high = arg(1, generated)?;
            format!("{attr} BETWEEN {low} AND {high}")
        }
        "IN" => {
            if list.is_empty() {
                want(1)?;
            }
            let mut values = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                values.push(arg(i, generated)?);
            }
            format!("{attr} IN ({})", values.join(", "))
        }
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )))
        }
    })
}

/// `Expected` (with `ConditionalOperator`) as a condition expression.
pub fn expected(
    expected: &Body,
    operator: Option<&str>,
    generated: &mut Generated,
) -> ApiResult<Option<String>> {
    if expected.is_empty() {
        return Ok(None);
    }
    let join = joiner(operator)?;
    let mut parts = Vec::with_capacity(expected.len());
    for (name, entry) in expected {
        let Json::Object(entry) = entry else {
            return Err(ApiError::serialization("Expected entries must be objects"));
        };
        if entry.contains_key("ComparisonOperator") {
            if entry.contains_key("Value") || entry.contains_key("Exists") {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Value or Exists cannot be used with ComparisonOperator",
                ));
            }
            parts.push(comparison(name, entry, generated, false)?);
            continue;
        }
        let exists = match entry.get("Exists") {
            None | Some(Json::Null) => true,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(ApiError::serialization("Exists must be a boolean")),
        };
        let attr = generated.name(name);
        match (exists, entry.get("Value")) {
            (false, None) => parts.push(format!("attribute_not_exists({attr})")),
            (false, Some(_)) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Value cannot be used when Exists is false",
                ))
            }
            (true, Some(v)) => {
                let v = generated.value(value(v, "Expected")?);
                parts.push(format!("{attr} = {v}"));
            }
            (true, None) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Value must be provided when Exists is true",
                ))
            }
        }
    }
    Ok(Some(parts.join(join)))
}

/// `QueryFilter` / `ScanFilter` (with `ConditionalOperator`) as a filter expression.
pub fn filter(
    conditions: &Body,
    operator: Option<&str>,
    generated: &mut Generated,
) -> ApiResult<Option<String>> {
    if conditions.is_empty() {
        return Ok(None);
    }
    let join = joiner(operator)?;
    let mut parts = Vec::with_capacity(conditions.len());
    for (name, condition) in conditions {
        let Json::Object(condition) = condition else {
            return Err(ApiError::serialization("filter conditions must be objects"));
        };
        parts.push(comparison(name, condition, generated, false)?);
    }
    Ok(Some(parts.join(join)))
}

/// `KeyConditions` as a key condition expression.
pub fn key_conditions(conditions: &Body, generated: &mut Generated) -> ApiResult<String> {
    let mut parts = Vec::with_capacity(conditions.len());
    for (name, condition) in conditions {
        let Json::Object(condition) = condition else {
            return Err(ApiError::serialization("KeyConditions entries must be objects"));
        };
        parts.push(comparison(name, condition, generated, true)?);
    }
    if parts.is_empty() {
        return Err(ApiError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        ));
    }
    Ok(parts.join(" AND "))
}

/// `AttributeUpdates` as an update expression (`None` when it changes nothing).
pub fn attribute_updates(updates: &Body, generated: &mut Generated) -> ApiResult<Option<String>> {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut add = Vec::new();
    let mut delete = Vec::new();
    for (name, update) in updates {
        let Json::Object(update) = update else {
            return Err(ApiError::serialization("AttributeUpdates entries must be objects"));
        };
        let action = match update.get("Action") {
            None | Some(Json::Null) => "PUT",
            Some(Json::String(s)) => s.as_str(),
            Some(_) => return Err(ApiError::serialization("Action must be a string")),
        };
        let attr = generated.name(name);
        let v = match update.get("Value") {
            None | Some(Json::Null) => None,
            Some(json) => Some(generated.value(value(json, "AttributeUpdates")?)),
        };
        match (action, v) {
            ("PUT", Some(v)) => set.push(format!("{attr} = {v}")),
            ("PUT", None) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified",
                ))
            }
            ("DELETE", None) => remove.push(attr),
            ("DELETE", Some(v)) => delete.push(format!("{attr} {v}")),
            ("ADD", Some(v)) => add.push(format!("{attr} {v}")),
            ("ADD", None) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified",
                ))
            }
            (other, _) => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )))
            }
        }
    }
    let mut clauses = Vec::new();
    for (keyword, items) in [("SET", set), ("REMOVE", remove), ("ADD", add), ("DELETE", delete)] {
        if !items.is_empty() {
            clauses.push(format!("{keyword} {}", items.join(", ")));
        }
    }
    Ok((!clauses.is_empty()).then(|| clauses.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: Json) -> Body {
        json.as_object().cloned().unwrap()
    }

    #[test]
    fn expected_becomes_a_condition() {
        let mut g = Generated::default();
        let e = body(serde_json::json!({
            "a": {"Exists": false},
            "b": {"Value": {"N": "1"}},
            "c": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]},
        }));
        let text = expected(&e, Some("OR"), &mut g).unwrap().unwrap();
        assert_eq!(
            text,
            "attribute_not_exists(#shoal_l0) OR #shoal_l1 = :shoal_l2 OR #shoal_l3 BETWEEN :shoal_l4 AND :shoal_l5"
        );
        assert_eq!(g.placeholders.names.len(), 3);
        assert_eq!(g.placeholders.values.len(), 3);
        let bad = body(serde_json::json!({"a": {"Exists": true}}));
        assert!(expected(&bad, None, &mut g)
            .unwrap_err()
            .message
            .contains("Value must be provided"));
    }

    #[test]
    fn attribute_updates_become_an_update() {
        let mut g = Generated::default();
        let u = body(serde_json::json!({
            "a": {"Action": "PUT", "Value": {"S": "x"}},
            "b": {"Action": "DELETE"},
            "c": {"Action": "ADD", "Value": {"N": "2"}},
            "d": {"Action": "DELETE", "Value": {"SS": ["q"]}},
        }));
        let text = attribute_updates(&u, &mut g).unwrap().unwrap();
        assert_eq!(
            text,
            "SET #shoal_l0 = :shoal_l1 REMOVE #shoal_l2 ADD #shoal_l3 :shoal_l4 DELETE #shoal_l5 :shoal_l6"
        );
    }

    #[test]
    fn key_conditions_refuse_filter_only_operators() {
        let mut g = Generated::default();
        let k = body(serde_json::json!({
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "a"}]},
        }));
        assert_eq!(
            key_conditions(&k, &mut g).unwrap(),
            "#shoal_l0 = :shoal_l1 AND begins_with(#shoal_l2, :shoal_l3)"
        );
        let bad = body(
            serde_json::json!({"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "p"}]}}),
        );
        assert!(key_conditions(&bad, &mut g).is_err());
    }
}
