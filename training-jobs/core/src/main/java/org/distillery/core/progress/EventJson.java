package org.distillery.core.progress;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** {@link ProgressEvent}'s JSON plumbing: the mapper, and field checks whose errors name the line. */
final class EventJson {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private EventJson() {
    }

    record Fields(JsonNode node, long line) {
        String text(String field) {
            JsonNode v = node.get(field);
            if (v == null || !v.isTextual() || v.asText().isEmpty()) {
                throw wrong(field, v, "a string");
            }
            return v.asText();
        }

        double number(String field) {
            JsonNode v = node.get(field);
            if (v == null || !v.isNumber()) {
                throw wrong(field, v, "a number");
            }
            return v.asDouble();
        }

        long integer(String field) {
            return (long) number(field);
        }

        private IllegalArgumentException wrong(String field, JsonNode v, String expected) {
            return new IllegalArgumentException("line " + line + ": field " + field + " is "
                    + (v == null ? "missing" : v.toString()) + ", expected " + expected);
        }
    }
}
