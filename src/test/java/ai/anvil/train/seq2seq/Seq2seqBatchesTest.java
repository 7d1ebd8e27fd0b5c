package ai.anvil.train.seq2seq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.train.Batch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Seq2seq batches (padding, key mask, shifted decoder inputs, reproducible cursor) and the verse join and split. */
class Seq2seqBatchesTest {
  @Test
  void rowsArePaddedMaskedAndShifted() {
    List<int[]> src = List.of(new int[] {5, 6, 1}, new int[] {7, 1});
    List<int[]> tgt = List.of(new int[] {8, 1}, new int[] {9, 9, 9, 1});
    Seq2seqBatches batches = new Seq2seqBatches(src, tgt, 6, 0, 0, 3);
    Batch b = batches.next();
    assertEquals(3, b.cols());
    assertEquals(4, b.targetCols());
    for (int r = 0; r < 6; r++) {
      int[] in = Arrays.copyOfRange(b.inputs(), r * 3, r * 3 + 3), mask = Arrays.copyOfRange(b.keyMask(), r * 3, r * 3 + 3);
      int[] t = Arrays.copyOfRange(b.targets(), r * 4, r * 4 + 4), d = Arrays.copyOfRange(b.decoderInputs(), r * 4, r * 4 + 4);
      if (in[0] == 5) {
        assertArrayEquals(new int[] {1, 1, 1}, mask);
        assertArrayEquals(new int[] {8, 1, -1, -1}, t);
        assertArrayEquals(new int[] {0, 8, 1, 0}, d);
      } else {
        assertArrayEquals(new int[] {7, 1, 0}, in);
        assertArrayEquals(new int[] {1, 1, 0}, mask);
        assertArrayEquals(new int[] {9, 9, 9, 1}, t);
        assertArrayEquals(new int[] {0, 9, 9, 9}, d);
      }
    }
    long[] cursor = batches.cursor();
    Batch next = batches.next();
    batches.restore(cursor);
    assertArrayEquals(next.inputs(), batches.next().inputs(), "restored cursor replays the batch");
    assertThrows(IllegalArgumentException.class, () -> new Seq2seqBatches(src, List.of(new int[] {1}), 2, 0, 0, 1));
  }

  @Test
  void versesJoinOnReferencesAndSplitByBook(@TempDir Path dir) throws Exception {
    Path a = dir.resolve("a.tsv"), b = dir.resolve("b.tsv");
    Files.writeString(a, "Ruth\t1\t1\tNow it came to pass\nRuth\t1\t2\tAnd the name\nJob\t1\t1\tThere was a man\nJob\t1\t3\tHis substance\n");
    Files.writeString(b, "Job\t1\t1\tThere was a man in the land\nRuth\t1\t1\tIn the days\nRuth\t1\t2\tThe name\n");
    List<VersePairs.Pair> pairs = VersePairs.join(a, b);
    assertEquals(3, pairs.size(), "Job 1:3 has no partner");
    assertEquals(new VersePairs.Pair("Ruth", 1, 2, "And the name", "The name"), pairs.get(1));
    VersePairs.Split split = VersePairs.byBooks(pairs, Set.of(), Set.of("Job"));
    assertEquals(2, split.train().size());
    assertEquals(1, split.test().size());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VersePairs.byBooks(pairs, Set.of(), Set.of("Jonah")));
    assertTrue(e.getMessage().contains("Jonah"), e.getMessage());
    Files.writeString(b, "Job\t1\tone\tbad\n");
    e = assertThrows(IllegalArgumentException.class, () -> VersePairs.join(a, b));
    assertTrue(e.getMessage().contains("b.tsv:1"), e.getMessage());
  }
}
