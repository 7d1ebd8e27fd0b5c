package ai.anvil.train;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Settings records (TrainConfig, FinetuneConfig) as JSON-style maps: every component under its
 * snake_case key, and a copy with some keys replaced. Each record converts values its own way.
 */
public final class RecordSettings {
  private RecordSettings() {}

  /** Turns one value into the component's type, or throws naming the key. */
  @FunctionalInterface
  public interface Converter {
    Object convert(String key, Object value, Class<?> type);
  }

  /** Every component of settings under its JSON key, in declaration order. */
  public static Map<String, Object> toMap(Record settings) {
    Map<String, Object> out = new LinkedHashMap<>();
    try {
      for (RecordComponent c : settings.getClass().getRecordComponents()) out.put(key(c.getName()), c.getAccessor().invoke(settings));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    return out;
  }

  /**
   * A copy of settings with overrides (JSON keys) replaced; an unknown key is an error naming the known
   * ones ("unknown WHAT setting"), a value of the wrong type whatever convert says.
   */
  public static <R extends Record> R with(R settings, Map<String, ?> overrides, String what, Converter convert) {
    @SuppressWarnings("unchecked")
    Class<R> type = (Class<R>) settings.getClass();
    RecordComponent[] comps = type.getRecordComponents();
    Map<String, Object> values = toMap(settings);
    for (Map.Entry<String, ?> e : overrides.entrySet()) {
      if (!values.containsKey(e.getKey())) {
        throw new IllegalArgumentException("unknown " + what + " setting '" + e.getKey() + "'; known: " + values.keySet());
      }
      values.put(e.getKey(), e.getValue());
    }
    Object[] args = new Object[comps.length];
    Class<?>[] types = new Class<?>[comps.length];
    for (int i = 0; i < comps.length; i++) {
      String key = key(comps[i].getName());
      types[i] = comps[i].getType();
      args[i] = convert.convert(key, values.get(key), types[i]);
    }
    try {
      Constructor<R> ctor = type.getDeclaredConstructor(types);
      return ctor.newInstance(args);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException(e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** camelCase component name -> snake_case key. */
  public static String key(String component) {
    StringBuilder b = new StringBuilder();
    for (char c : component.toCharArray()) {
      if (Character.isUpperCase(c)) b.append('_').append(Character.toLowerCase(c));
      else b.append(c);
    }
    return b.toString();
  }
}
