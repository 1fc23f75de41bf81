/**
 * The type that tests/test_grafana_schema.py checks each generated dashboard against.
 *
 * It composes Grafana 11.1's published types from @grafana/schema and declares no field of
 * its own. The dashboard model is @grafana/schema's `Dashboard`, and each panel's `options`
 * and `fieldConfig.defaults.custom` are typed with the `Options` and `FieldConfig` of that
 * panel plugin's own schema. The default dashboard of @grafana/schema 11.1.0 has
 * schemaVersion 39, the version the generator writes.
 */
import type * as schema from "@grafana/schema";
import type * as bargauge from "@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen";
import type * as gauge from "@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen";
import type * as heatmap from "@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as text from "@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";

/**
 * The JSON form of a type. A string enum member becomes its value, because dashboard
 * JSON contains `"table"` where the TypeScript types declare `LegendDisplayMode.Table`.
 * Numeric enums stay, since TypeScript 5 accepts a number literal that is a member's value.
 */
export type Json<T> = T extends string
  ? `${T}`
  : T extends readonly (infer Item)[]
    ? Json<Item>[]
    : T extends object
      ? { [Key in keyof T]: Json<T[Key]> }
      : T;

/** Custom field config of a plugin whose schema declares no `FieldConfig`: only `{}`. */
type NoCustomFieldConfig = Record<string, never>;

/**
 * @grafana/schema's panel, with `type`, `options` and custom field config of one plugin.
 * NOTE: `targets` stays `Record<string, unknown>[]`, because @grafana/schema 11.1.0
 * ships no Prometheus query type, so this type checks the queries only to be objects.
 */
type PluginPanel<Type extends string, Options, CustomFieldConfig> = Omit<
  schema.Panel,
  "type" | "options" | "fieldConfig"
> & {
  type: Type;
  options?: Options;
  fieldConfig?: Omit<schema.FieldConfigSource, "defaults"> & {
    defaults: Omit<schema.FieldConfig, "custom"> & { custom?: CustomFieldConfig };
  };
};

/** The current panel plugins the generator may write. Any other `type` is rejected. */
export type Panel =
  | PluginPanel<"bargauge", bargauge.Options, NoCustomFieldConfig>
  | PluginPanel<"gauge", gauge.Options, NoCustomFieldConfig>
  | PluginPanel<"heatmap", heatmap.Options, heatmap.FieldConfig>
  | PluginPanel<"stat", stat.Options, NoCustomFieldConfig>
  | PluginPanel<"table", table.Options, table.FieldConfig>
  | PluginPanel<"text", text.Options, NoCustomFieldConfig>
  | PluginPanel<"timeseries", timeseries.Options, timeseries.FieldConfig>;

export type RowPanel = Omit<schema.RowPanel, "panels"> & { panels: Panel[] };

/**
 * An annotation query of @grafana/schema, with room for the keys its datasource reads, such
 * as the Prometheus annotation's `titleFormat`. The `AnnotationQuery` of @grafana/data
 * 11.1.0, which Grafana's frontend uses, adds the same `[key: string]: any`.
 */
type AnnotationQuery = schema.AnnotationQuery & { [key: string]: unknown };

export type Dashboard = Json<
  Omit<schema.Dashboard, "panels" | "annotations"> & {
    annotations?: Omit<schema.AnnotationContainer, "list"> & { list?: AnnotationQuery[] };
    panels?: (Panel | RowPanel)[];
  }
>;
