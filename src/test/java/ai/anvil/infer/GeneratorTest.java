package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.OneCpuThread;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Decoding with the cache against recomputing the whole context, determinism, seeds, stop sequences,
 * streaming, the sliding context window and cancellation, on small random models.
 */
@ExtendWith(OneCpuThread.class)
class GeneratorTest {
  private static final String CHARS = "abcdefghijklmnopqrstuvwxyz .,;:!?ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  private static final CharTokenizer CHAR = CharTokenizer.of(CHARS);
  private static Gpt charModel;
  private static Gpt byteModel;


  @BeforeAll
  static void models() {
    charModel = new Gpt(GptConfig.of(2, 2, 32, 24, CHAR.vocabSize()), 5, Device.CPU);
    byteModel = new Gpt(GptConfig.of(2, 2, 32, 64, 257), 6, Device.CPU);
    charModel.train(false);
    byteModel.train(false);
  }

  @AfterAll
  static void close() {
    charModel.close();
    byteModel.close();
  }

  /**
   * The reference: every step recomputes the logits of the whole window with {@link Gpt#logits}; the
   * window restarts from its last 3/4 when it would exceed the block, as the Generator's does.
   */
  static int[] recompute(Gpt model, int[] prompt, SamplingConfig config, int vocab) {
    int block = model.config().blockSize();
    List<Integer> history = new ArrayList<>();
    for (int t : prompt.length > block ? Arrays.copyOfRange(prompt, prompt.length - block, prompt.length) : prompt) history.add(t);
    int windowStart = 0;
    Sampler sampler = new Sampler(config);
    int[] out = new int[config.maxTokens()];
    try (Tape.NoGrad ng = Tape.noGrad()) {
      for (int n = 0; n < config.maxTokens(); n++) {
        int[] window = history.subList(windowStart, history.size()).stream().mapToInt(Integer::intValue).toArray();
        float[] logits;
        try (Scope s = Scope.open()) {
          logits = model.logits(Tensor.ofInts(window, 1, window.length)).toFloatArray();
        }
        int next = sampler.next(logits, (window.length - 1) * model.config().paddedVocab(), vocab);
        out[n] = next;
        history.add(next);
        if (history.size() - 1 - windowStart == block) windowStart = history.size() - block * 3 / 4;
      }
    }
    return out;
  }

  @Test
  void cacheDecodingGivesTheTokensOfRecomputation() {
    Generator g = new Generator(charModel, null);
    int[] prompt = CHAR.encode("And God said");
    int vocab = CHAR.vocabSize();
    for (SamplingConfig c : List.of(SamplingConfig.greedy(12), SamplingConfig.sample(12, 1.0, 3),
        SamplingConfig.sample(12, 0.8, 4).withTopK(10).withTopP(0.9))) {
      Generation got = g.generate(prompt, c, null);
      assertArrayEquals(recompute(charModel, prompt, c, vocab), got.tokens(), "config " + c);
      assertEquals(Generation.Finish.LENGTH, got.finish());
      assertEquals(prompt.length, got.promptTokens());
    }
  }

  @Test
  void contextSlidesPastTheBlockSize() {
    Generator g = new Generator(charModel, null);
    int vocab = CHAR.vocabSize();
    // 20-token prompt, block 24: the cache fills after 4 new tokens and slides (several times in 40).
    int[] prompt = CHAR.encode("In the beginning God");
    SamplingConfig c = SamplingConfig.sample(40, 1.0, 9);
    Generation got = g.generate(prompt, c, null);
    assertEquals(40, got.tokens().length);
    assertArrayEquals(recompute(charModel, prompt, c, vocab), got.tokens());
    // A prompt longer than the block keeps its last 24 tokens.
    int[] longPrompt = CHAR.encode("In the beginning God created the heaven and the earth");
    Generation cut = g.generate(longPrompt, SamplingConfig.greedy(10), null);
    assertEquals(24, cut.promptTokens());
    assertArrayEquals(recompute(charModel, longPrompt, SamplingConfig.greedy(10), vocab), cut.tokens());
  }

  @Test
  void greedyIsDeterministicAndSeedsRepeat() {
    Generator g = new Generator(charModel, CHAR);
    Generation a = g.generate("the", SamplingConfig.greedy(15), null);
    Generation b = g.generate("the", SamplingConfig.greedy(15), null);
    assertArrayEquals(a.tokens(), b.tokens());
    assertEquals(a.text(), b.text());
    assertEquals(15, a.text().length());

    SamplingConfig s = SamplingConfig.sample(20, 1.2, 77).withTopK(30);
    Generation s1 = g.generate("the", s, null);
    Generation s2 = g.generate("the", s, null);
    Generation other = g.generate("the", s.withSeed(78), null);
    assertArrayEquals(s1.tokens(), s2.tokens());
    assertNotEquals(Arrays.toString(s1.tokens()), Arrays.toString(other.tokens()));
  }

  @Test
  void stopStringsCutTheTextAndAreNeverStreamed() {
    Generator g = new Generator(charModel, CHAR);
    SamplingConfig base = SamplingConfig.sample(24, 1.5, 21);
    String full = g.generate("God", base, null).text();
    // A stop string from the middle of what the model says anyway, at its first occurrence.
    String stop = full.substring(9, 11);
    int at = full.indexOf(stop);
    StringBuilder streamed = new StringBuilder();
    Generation stopped = g.generate("God", base.withStop("zzzz", stop), streamed::append);
    assertEquals(Generation.Finish.STOP, stopped.finish());
    assertEquals(full.substring(0, at), stopped.text());
    assertEquals(stopped.text(), streamed.toString());
    // A stop string that never appears changes nothing.
    StringBuilder all = new StringBuilder();
    Generation free = g.generate("God", base.withStop("@@"), all::append);
    assertEquals(full, free.text());
    assertEquals(full, all.toString());
    assertEquals(Generation.Finish.LENGTH, free.finish());
  }

  @Test
  void stopTokenSequencesEndGenerationAndAreDropped() {
    Generator g = new Generator(charModel, CHAR);
    SamplingConfig base = SamplingConfig.sample(24, 1.5, 22);
    int[] full = g.generate("God", base, null).tokens();
    int k = 10;
    int[] stop = {full[k], full[k + 1]};
    int first = 0;
    while (!(full[first] == stop[0] && full[first + 1] == stop[1])) first++;
    StringBuilder streamed = new StringBuilder();
    Generation stopped = g.generate("God", base.withStopTokens(stop), streamed::append);
    assertEquals(Generation.Finish.STOP, stopped.finish());
    assertArrayEquals(Arrays.copyOf(full, first), stopped.tokens());
    assertEquals(CHAR.decode(Arrays.copyOf(full, first)), stopped.text());
    assertEquals(stopped.text(), streamed.toString());
  }

  @Test
  void endOfTextStopsUnlessDisabled() {
    // Name end-of-text the token the model says first after the prompt.
    int first = new Generator(byteModel, new ByteTokenizer(-1)).generate("x", SamplingConfig.greedy(5), null).tokens()[0];
    Generator g = new Generator(byteModel, new ByteTokenizer(first));
    Generation stopped = g.generate("x", SamplingConfig.greedy(5), null);
    assertEquals(0, stopped.tokens().length);
    assertEquals(Generation.Finish.STOP, stopped.finish());
    Generation going = g.generate("x", SamplingConfig.greedy(5).withStopAtEos(false), null);
    assertEquals(5, going.tokens().length);
    assertEquals(first, going.tokens()[0]);
  }

  @Test
  void streamingEmitsWholeCharactersOnly() {
    // Random bytes: multi-byte sequences are split over tokens, and some are invalid.
    Generator g = new Generator(byteModel, new ByteTokenizer(-1));
    List<String> pieces = new ArrayList<>();
    Generation gen = g.generate("é", SamplingConfig.sample(60, 1.0, 5).withStopAtEos(false), pieces::add);
    assertEquals(gen.text(), String.join("", pieces));
    for (String p : pieces) {
      assertFalse(p.isEmpty());
      assertFalse(Character.isHighSurrogate(p.charAt(p.length() - 1)), "a piece ends inside a character");
    }
    // Whatever the split, the streamed text is the UTF-8 decoding of all the bytes.
    assertEquals(new ByteTokenizer(-1).decode(gen.tokens()), gen.text());
  }

  @Test
  void utf8BoundaryDetection() {
    byte[] e = "aé€😀".getBytes(java.nio.charset.StandardCharsets.UTF_8);   // 1 + 2 + 3 + 4 bytes
    int[] whole = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
    for (int to = 0; to <= e.length; to++) assertEquals(whole[to], StopMatcher.completeUtf8(e, 0, to), "prefix " + to);
  }

  @Test
  void interruptCancels() {
    Generator g = new Generator(charModel, CHAR);
    Thread.currentThread().interrupt();
    try {
      Generation gen = g.generate("God", SamplingConfig.greedy(10), null);
      assertEquals(Generation.Finish.CANCELLED, gen.finish());
      assertEquals(0, gen.tokens().length);
    } finally {
      assertTrue(Thread.interrupted(), "the interrupt stays set for the caller");
    }
  }

  @Test
  void callersScopeAndTapeAreLeftAlone() {
    Generator g = new Generator(charModel, CHAR);
    Generation plain = g.generate("God", SamplingConfig.greedy(8), null);
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Generation inside = g.generate("God", SamplingConfig.greedy(8), null);
      assertArrayEquals(plain.tokens(), inside.tokens());
      assertEquals(0, s.size(), "nothing is left in the caller's scope");
      assertEquals(0, tape.size(), "nothing is recorded");
    }
  }

  @Test
  void generationFreesWhatItAllocates() {
    Generator g = new Generator(charModel, CHAR);
    g.generate("God", SamplingConfig.greedy(30), null);
    long before = MemoryStats.liveBytes(Device.CPU);
    for (int i = 0; i < 3; i++) g.generate("God", SamplingConfig.sample(30, 1.0, i), null);
    assertEquals(before, MemoryStats.liveBytes(Device.CPU));
  }
}
