// Encodes texts with the gpt-3-encoder package (OpenAI's GPT-2 encoder in JavaScript), for parity tests.
// Usage: node gpt3_encoder_encode.js PACKAGE_DIR TEXTS_JSON  -> prints a JSON array of id arrays.
const fs = require('fs');
const path = require('path');
const { encode } = require(path.resolve(process.argv[2], 'Encoder.js'));
const texts = JSON.parse(fs.readFileSync(process.argv[3], 'utf-8'));
process.stdout.write(JSON.stringify(texts.map(t => encode(t))));
