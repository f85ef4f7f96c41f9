package org.distillery.prep;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.JavaSerializer;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * How Kryo writes the jobs' records, when a cluster chooses it as {@code spark.serializer} (Distillery leaves
 * Spark's Java serialization as it is: on the prep benchmark Kryo was 20% slower, its text encoding no faster). Spark's Kryo (4.x) builds objects field by field, which a Java record does not allow: without
 * this, a record in a shuffle, a task result or a broadcast fails the job. {@link SparkSessions} adds this registrator to any the submitter names.
 */
public final class SparkKryo implements KryoRegistrator {
    @Override
    public void registerClasses(Kryo kryo) {
        // Every document passes through shuffles and caches: two strings, written as such.
        kryo.register(PrepJob.Document.class, new Serializer<PrepJob.Document>() {
            @Override
            public void write(Kryo k, Output out, PrepJob.Document d) {
                out.writeString(d.id());
                out.writeString(d.text());
            }

            @Override
            public PrepJob.Document read(Kryo k, Input in, Class<PrepJob.Document> type) {
                return new PrepJob.Document(in.readString(), in.readString());
            }
        });
        // Other records (task results, plans) are few: Java serialization, through their canonical constructors.
        kryo.addDefaultSerializer(Record.class, JavaSerializer.class);
    }
}
