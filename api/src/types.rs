//! Scalar types of the API schema that poem-openapi does not describe or
//! parse as clients expect.

use std::{borrow::Cow, marker::PhantomData};

use chrono::NaiveDate;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::{Json, Payload},
    registry::{MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A calendar date, `YYYY-MM-DD` (OpenAPI `format: date`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

impl Type for Date {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

fn parse(raw: &str) -> ParseResult<Date> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(Date)
        .map_err(|_| ParseError::custom("expected a date as YYYY-MM-DD"))
}

impl ParseFromJSON for Date {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(raw) => parse(&raw),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for Date {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        parse(value)
    }
}

impl ToJSON for Date {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.format("%Y-%m-%d").to_string()))
    }
}

/// The same date in the GraphQL schema.
#[async_graphql::Scalar(name = "Date")]
impl async_graphql::ScalarType for Date {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(raw) => {
                parse(raw).map_err(|_| async_graphql::InputValueError::custom("expected a date as YYYY-MM-DD"))
            }
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A string field of a request body: a JSON string and nothing else.
///
/// poem-openapi's `String` also takes JSON numbers and booleans (`false`
/// becomes `"false"`), so a client sending the wrong type would be
/// answered 2xx instead of 400. The schema and the validators (lengths,
/// patterns) are those of `String`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The strings of optional text fields, as the domain takes them.
pub fn strings(texts: Option<Vec<Text>>) -> Option<Vec<String>> {
    texts.map(|texts| texts.into_iter().map(Text::into_inner).collect())
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A JSON request body kept as the raw bytes that were sent (a signature
/// over them must be checked before they are parsed).
pub struct RawJson(pub Vec<u8>);

impl poem_openapi::payload::Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.split(';').next().is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("object")))
    }
}

impl poem_openapi::payload::ParsePayload for RawJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &poem::Request, body: &mut poem::RequestBody) -> poem::Result<Self> {
        use poem::FromRequest;
        Ok(Self(Vec::<u8>::from_request(request, body).await?))
    }
}

impl<'a> poem_openapi::ApiExtractor<'a> for RawJson {
    const TYPES: &'static [poem_openapi::ApiExtractorType] = &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut poem_openapi::registry::Registry) {}

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        use poem_openapi::payload::{ParsePayload, Payload};
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _options: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        use poem_openapi::{
            error::ContentTypeError,
            payload::{ParsePayload, Payload},
        };
        match request.content_type() {
            Some(content_type) if <Self as Payload>::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported { content_type: content_type.to_owned() }.into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// A JSON body already serialized as a `T` (a cached response, or one
/// written by `T`'s own `Serialize`), served as is; documented exactly as
/// `Json<T>`.
pub struct JsonBytes<T>(pub Vec<u8>, PhantomData<T>);

impl<T> JsonBytes<T> {
    /// `raw` must be what `Json<T>` would write for some `T`.
    pub fn new(raw: Vec<u8>) -> Self {
        Self(raw, PhantomData)
    }
}

impl<T: serde::Serialize> JsonBytes<T> {
    /// `value` written by its `Serialize`, which must write what `Json<T>`
    /// would.
    pub fn encode(value: &T) -> Self {
        Self::new(serde_json::to_vec(value).expect("BUG: a response body serializes"))
    }
}

impl<T: Type> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

impl<T: ToJSON> ApiResponse for JsonBytes<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
