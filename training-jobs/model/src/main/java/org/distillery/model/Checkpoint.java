package org.distillery.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Sha256;
import org.distillery.core.io.Quoted;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A training checkpoint: the model, the optimizer state and everything needed to continue or to
 * trust the result (step, seed, data position, model config, tokenizer, dataset hash, spec). Format
 * {@value #FORMAT} version {@value #VERSION}, documented in docs/formats.md:
 *
 * <pre>
 * "DSTCKPT\0" | u32 version | u64 header length H | H bytes of JSON header |
 * float32 little-endian sections, in the header's order | SHA-256 of everything before (32 bytes)
 * </pre>
 *
 * Written atomically (temporary file, fsync, rename); read back only after the length and checksum
 * match, so a truncated or corrupted file is an error naming it, never a half-loaded model.
 */
public record Checkpoint(Header header, Map<String, INDArray> sections) {
    public static final String FORMAT = "distillery.checkpoint";
    public static final int VERSION = 1;
    static final byte[] MAGIC = {'D', 'S', 'T', 'C', 'K', 'P', 'T', 0};
    private static final int PREFIX = 8 + 4 + 8;
    private static final int TRAILER = 32;
    /** A header is a few hundred kilobytes (it embeds the tokenizer); refuse to allocate absurd ones. */
    private static final long MAX_HEADER = 256L << 20;
    /** Writers emit a handful (params, optimizer moments, an auxiliary head's); each costs an array to load. */
    private static final int MAX_SECTIONS = 1024;

    public static final String PARAMS = "params";
    public static final String ADAM_M = "adam.m";
    public static final String ADAM_V = "adam.v";

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** A value (a spec, a config) as the JSON object a header stores it as: for provenance. */
    public static Map<String, Object> asJsonObject(Object value) {
        return JSON.convertValue(value, new TypeReference<Map<String, Object>>() { });
    }

    /** What a checkpoint says about itself; {@code sections} lists the float arrays that follow. */
    public record Header(
            String format,
            int version,
            String distilleryVersion,
            String createdAt,
            GptConfig model,
            long step,
            long tokensSeen,
            Training training,
            Tokenizer tokenizer,
            Data data,
            Map<String, Double> metrics,
            Map<String, Object> spec,
            String runId,
            List<Section> sections) {

        /**
         * A header for weights of {@code model} with their {@code tokenizer}, written now by {@code distilleryVersion}:
         * step 0, no training state, data, metrics, spec or run. The {@code with...} methods add those.
         */
        public static Header of(String distilleryVersion, GptConfig model, Tokenizer tokenizer) {
            return new Header(FORMAT, VERSION, distilleryVersion, Instant.now().toString(), model, 0, 0, null, tokenizer,
                    null, Map.of(), Map.of(), null, null);
        }

        /** At optimizer step {@code step}, after {@code tokensSeen} training tokens. */
        public Header atStep(long step, long tokensSeen) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer,
                    data, metrics, spec, runId, sections);
        }

        /** With the state training resumes from. */
        public Header withTraining(Training t) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, t, tokenizer, data,
                    metrics, spec, runId, sections);
        }

        /** Trained on {@code d} (null: not known). */
        public Header withData(Data d) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer, d,
                    metrics, spec, runId, sections);
        }

        public Header withMetrics(Map<String, Double> m) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer,
                    data, m, spec, runId, sections);
        }

        /** The spec (or import source) the weights came from, as provenance. */
        public Header withSpec(Map<String, Object> s) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer,
                    data, metrics, s, runId, sections);
        }

        /** Made by the tracked run {@code id} (null: none). */
        public Header withRunId(String id) {
            return new Header(format, version, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer,
                    data, metrics, spec, id, sections);
        }

        Header withSections(List<Section> list) {
            return new Header(FORMAT, VERSION, distilleryVersion, createdAt, model, step, tokensSeen, training, tokenizer,
                    data, metrics, spec, runId, list);
        }
    }

    /**
     * Where training stands: the optimizer's step count, and the seed from which data order and dropout
     * masks derive (both are functions of seed and step, so these two numbers are the RNG state and the
     * data-loader position).
     */
    public record Training(long seed, long optimizerSteps, int batchSize, int gradAccum, double beta1, double beta2,
                           double eps, double weightDecay) {
    }

    /** The tokenizer, embedded (Hugging Face tokenizer.json text), so a checkpoint stands alone. */
    public record Tokenizer(String sha256, int vocabSize, String json) {
    }

    /** The prep output trained on: its manifest's SHA-256 and its folder. */
    public record Data(String manifestSha256, String path) {
    }

    public record Section(String name, long floats) {
    }

    public INDArray section(String name) {
        INDArray a = sections.get(name);
        if (a == null) {
            throw new IllegalStateException("checkpoint has no section " + name);
        }
        return a;
    }

    /** Writes to {@code file} atomically. */
    public void write(Path file) throws IOException {
        List<Section> list = new ArrayList<>();
        for (Map.Entry<String, INDArray> e : sections.entrySet()) {
            list.add(new Section(e.getKey(), e.getValue().length()));
        }
        Header h = header.withSections(list);
        byte[] json = JSON.writeValueAsBytes(h);
        long floats = 0;
        for (Section sec : list) {
            floats += sec.floats();
        }
        AtomicFile.write(file, PREFIX + json.length + 4 * floats + 32, out -> {
            MessageDigest digest = Sha256.newDigest();
            DigestOutputStream d = new DigestOutputStream(out, digest);
            ByteBuffer prefix = ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
            prefix.put(MAGIC).putInt(VERSION).putLong(json.length);
            d.write(prefix.array());
            d.write(json);
            byte[] chunk = new byte[1 << 20];
            for (INDArray a : sections.values()) {
                writeFloats(a, d, chunk);
            }
            d.flush();
            out.write(digest.digest());
        });
    }

    private static void writeFloats(INDArray a, OutputStream out, byte[] chunk) throws IOException {
        INDArray flat = a.dataType() == DataType.FLOAT && !a.isView() ? a : a.castTo(DataType.FLOAT).dup('c');
        try {
            // Through windows: one NIO view of the whole array stops at 2 GiB, a section need not.
            BytePointer p = new BytePointer(flat.data().addressPointer());
            long bytes = flat.length() * 4;
            for (long done = 0; done < bytes; ) {
                int n = (int) Math.min(chunk.length, bytes - done);
                window(p, done, n).get(chunk, 0, n);
                out.write(chunk, 0, n);
                done += n;
            }
        } finally {
            // The pointer does not own the native memory: keep the array reachable until it is read.
            java.lang.ref.Reference.reachabilityFence(flat);
        }
    }

    /**
     * Fills {@code a} with the little-endian floats at byte {@code at} of the file, {@code window} bytes at a
     * time: one NIO view of a whole array stops at 2 GiB, and a section may be larger.
     */
    static void readFloats(Path file, FileChannel ch, long at, INDArray a, String section, int window)
            throws IOException {
        BytePointer p = new BytePointer(a.data().addressPointer());
        long bytes = a.length() * 4;
        try {
            for (long done = 0; done < bytes; ) {
                int n = (int) Math.min(window, bytes - done);
                ByteBuffer target = window(p, done, n);
                while (target.hasRemaining()) {
                    if (ch.read(target, at + done + target.position()) < 0) {
                        throw corrupt(file, "ends early inside section " + Quoted.of(section));
                    }
                }
                done += n;
            }
        } finally {
            java.lang.ref.Reference.reachabilityFence(a);
        }
    }

    /** {@code n} bytes from byte {@code at} of {@code p}, as a buffer positioned at its start. */
    private static ByteBuffer window(BytePointer p, long at, int n) {
        BytePointer q = p.getPointer(at);
        return q.capacity(n).asByteBuffer();
    }

    /** Reads only the header, after checking magic, version and length (not the checksum). */
    public static Header readHeader(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return header(file, ch);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": checkpoint not found");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read checkpoint: " + e.getMessage(), e);
        }
    }

    /** Reads and verifies a whole checkpoint. */
    public static Checkpoint read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = header(file, ch);
            long size = ch.size();
            MessageDigest digest = Sha256.newDigest();
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            long pos = 0;
            long end = size - TRAILER;
            while (pos < end) {
                buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
                int n = ch.read(buf, pos);
                if (n < 0) {
                    throw corrupt(file, "ended early while checking its SHA-256");
                }
                buf.flip();
                digest.update(buf);
                pos += n;
            }
            ByteBuffer trailer = ByteBuffer.allocate(TRAILER);
            ch.read(trailer, end);
            if (!Arrays.equals(digest.digest(), trailer.array())) {
                throw corrupt(file, "fails its SHA-256 check: the file is corrupt");
            }
            long offset = PREFIX + headerLength(file, ch);
            Map<String, INDArray> sections = new LinkedHashMap<>();
            for (Section s : h.sections()) {
                // header() has checked every size against the file, so neither the array nor the sum can be absurd.
                INDArray a = Nd4j.create(DataType.FLOAT, s.floats());
                if (s.floats() > 0) {
                    readFloats(file, ch, offset, a, s.name(), 1 << 26);
                }
                offset += s.floats() * 4;
                sections.put(s.name(), a);
            }
            return new Checkpoint(h, sections);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": checkpoint not found");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read checkpoint: " + e.getMessage(), e);
        }
    }

    private static long headerLength(Path file, FileChannel ch) throws IOException {
        ByteBuffer prefix = ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
        while (prefix.hasRemaining() && ch.read(prefix, prefix.position()) > 0) {
            // fill the prefix
        }
        if (prefix.position() < PREFIX) {
            throw corrupt(file, "is " + ch.size() + " bytes, shorter than a checkpoint's " + PREFIX + "-byte prefix");
        }
        prefix.flip();
        byte[] magic = new byte[8];
        prefix.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw corrupt(file, "is not a Distillery checkpoint (wrong magic bytes)");
        }
        int version = prefix.getInt();
        if (version != VERSION) {
            throw corrupt(file, "has checkpoint format version " + version + ", this Distillery reads version " + VERSION);
        }
        long len = prefix.getLong();
        if (len <= 0 || len > MAX_HEADER || PREFIX + len + TRAILER > ch.size()) {
            throw corrupt(file, "is truncated or corrupt: its header claims " + len + " bytes in a file of " + ch.size());
        }
        return len;
    }

    private static Header header(Path file, FileChannel ch) throws IOException {
        long len = headerLength(file, ch);
        ByteBuffer json = ByteBuffer.allocate((int) len);
        while (json.hasRemaining() && ch.read(json, PREFIX + json.position()) > 0) {
            // fill the header
        }
        Header h;
        try {
            h = JSON.readValue(new String(json.array(), StandardCharsets.UTF_8), Header.class);
        } catch (com.fasterxml.jackson.databind.exc.ValueInstantiationException e) {
            // GptConfig's own check (n_kv_head must divide n_head), said without Jackson's wrapping.
            throw corrupt(file, "has an unusable header: " + (e.getCause() != null ? e.getCause().getMessage()
                    : e.getOriginalMessage()));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw corrupt(file, "has an unreadable header: " + e.getOriginalMessage());
        }
        if (!FORMAT.equals(h.format()) || h.sections() == null || h.model() == null) {
            throw corrupt(file, "has a header without format '" + FORMAT + "', model or sections");
        }
        // The SHA-256 trailer is a checksum, not a MAC: a crafted file carries a matching one, so every size is
        // checked against the bytes the file really has before anything is allocated or summed.
        if (h.sections().size() > MAX_SECTIONS) {
            throw corrupt(file, "lists " + h.sections().size() + " sections; expected at most " + MAX_SECTIONS);
        }
        long left = ch.size() - PREFIX - len - TRAILER;
        Set<String> names = new HashSet<>();
        for (Section s : h.sections()) {
            if (s == null || s.name() == null) {
                throw corrupt(file, "lists a section without a name");
            }
            if (!names.add(s.name())) {
                throw corrupt(file, "lists section " + Quoted.of(s.name()) + " twice");
            }
            if (s.floats() < 0) {
                throw corrupt(file, "section " + Quoted.of(s.name()) + " declares " + s.floats()
                        + " floats; expected 0 or more");
            }
            if (s.floats() > left / 4) {
                throw corrupt(file, "section " + Quoted.of(s.name()) + " declares " + s.floats() + " floats of 4 bytes,"
                        + " but the file has " + left + " bytes left for it after its header: truncated or corrupt");
            }
            left -= s.floats() * 4;
        }
        if (left != 0) {
            throw corrupt(file, "is " + ch.size() + " bytes but its header describes " + (ch.size() - left)
                    + ": trailing bytes");
        }
        requireModel(file, h);
        return h;
    }

    /** The header fields under {@code model.llama} that a spec has directly under {@code model}. */
    private static final Set<String> LLAMA_FIELDS = Set.of("n_kv_head", "intermediate_size", "rope_theta",
            "rms_norm_eps");

    /**
     * The header's model shape, checked as a spec's is, and the weight sections against it: every user wraps
     * {@code params} in {@link GptParameters}, so a crafted shape would otherwise fail there unnamed, or divide by
     * a zero {@code n_head}. Within the spec's ranges the parameter count cannot overflow.
     */
    private static void requireModel(Path file, Header h) {
        // Every writer embeds the tokenizer; readers compare its sha256 with the data's and decode with its json.
        if (h.tokenizer() == null || h.tokenizer().sha256() == null || h.tokenizer().json() == null) {
            throw corrupt(file, "has a header without tokenizer.sha256 and tokenizer.json");
        }
        GptConfig m = h.model();
        org.distillery.core.spec.Validation.Problem p = m.problem();
        if (p != null) {
            String field = p.path().substring("model.".length());
            throw corrupt(file, "header's model." + (LLAMA_FIELDS.contains(field) ? "llama." : "") + field + " "
                    + p.message());
        }
        long expected = m.parameterCount();
        boolean params = false;
        for (Section s : h.sections()) {
            boolean weights = s.name().equals(PARAMS) || s.name().equals(ADAM_M) || s.name().equals(ADAM_V);
            params |= s.name().equals(PARAMS);
            if (weights && s.floats() != expected) {
                throw corrupt(file, "section " + Quoted.of(s.name()) + " holds " + s.floats() + " floats, but the"
                        + " header's model (" + m.arch() + ", n_layer " + m.nLayer() + ", n_embd " + m.nEmbd()
                        + ", vocab_size " + m.vocabSize() + ") has " + expected + " parameters");
            }
        }
        if (!params) {
            throw corrupt(file, "has no section 'params' (the model's weights)");
        }
    }

    private static DistilleryException corrupt(Path file, String what) {
        return new DistilleryException(file + ": " + what);
    }
}
