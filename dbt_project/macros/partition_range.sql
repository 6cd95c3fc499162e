{#-
  The date range of an incremental run: vars `min_date` (inclusive) and `max_date` (exclusive),
  else environment variables DATA_PLATFORM_MIN_DATE and DATA_PLATFORM_MAX_DATE (empty = unset),
  which is how Dagster passes a partition time window: new --vars make dbt re-parse the whole
  project (~3 s here), an environment value read at run time does not. With neither, or on
  --full-refresh, the range is every day, so a standalone `dbt build` rebuilds everything.
-#}
{% macro partition_range() -%}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
    {%- set label = {'min_date': 'var min_date', 'max_date': 'var max_date'} -%}
    {%- if min_date is none and max_date is none -%}
        {%- set min_date = env_var('DATA_PLATFORM_MIN_DATE', '') or none -%}
        {%- set max_date = env_var('DATA_PLATFORM_MAX_DATE', '') or none -%}
        {%- set label = {
            'min_date': 'environment variable DATA_PLATFORM_MIN_DATE',
            'max_date': 'environment variable DATA_PLATFORM_MAX_DATE',
        } -%}
    {%- endif -%}
    {%- if min_date is none and max_date is none or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for name, value in [('min_date', min_date), ('max_date', max_date)] -%}
        {%- if value is none or not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string) -%}
            {{ exceptions.raise_compiler_error(
                label[name] ~ " must be a date YYYY-MM-DD (both min_date and max_date are required), got: " ~ value) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if (max_date | string) <= (min_date | string) -%}
        {{ exceptions.raise_compiler_error(
            label['max_date'] ~ " (exclusive) must be after min_date, got " ~ min_date ~ " .. " ~ max_date) }}
    {%- endif -%}
    {{ return({'min_date': min_date | string, 'max_date': max_date | string}) }}
{%- endmacro %}

{#- A SQL predicate: `column` falls in the run's date range (TRUE when it is every day). -#}
{% macro in_partition_range(column) -%}
    {%- set range = partition_range() -%}
    {%- if range is none -%}
        true
    {%- else -%}
        ({{ column }} >= date '{{ range.min_date }}' and {{ column }} < date '{{ range.max_date }}')
    {%- endif -%}
{%- endmacro %}

{#-
  Incremental strategy `replace_range`: in the model's transaction, delete the run's date range
  (config `range_column`) from the target, then insert the freshly built rows. Re-running a day
  replaces exactly that day, including orders that disappeared from the source.
-#}
{% macro get_incremental_replace_range_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set range_column = config.get('range_column') -%}
    {%- if not range_column -%}
        {{ exceptions.raise_compiler_error("incremental_strategy replace_range needs config range_column") }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} where {{ in_partition_range(range_column) }};
    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }}
{%- endmacro %}
