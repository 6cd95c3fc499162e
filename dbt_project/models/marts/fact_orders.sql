{#-
  One row per order, with its customer and item aggregates (LEFT JOINed: no order is dropped).
  Incremental over the run's date range (vars min_date/max_date, else the environment's
  DATA_PLATFORM_MIN_DATE/MAX_DATE): the range is deleted and rebuilt in one transaction;
  without either every day is rebuilt.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_range',
    range_column='order_date',
    on_schema_change='fail',
) }}

with orders as (
    select * from {{ ref('stg_orders') }}
    where {{ in_partition_range('order_date') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

order_items as (
    select
        order_id,
        count(*) as item_count,
        sum(quantity) as total_quantity
    from {{ ref('stg_order_items') }}
    where {{ in_partition_range('order_date') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    c.customer_name,
    c.customer_segment,
    o.order_date,
    o.order_month,
    o.cleaned_total_amount as total_amount,
    o.currency,
    o.standardized_status as status,
    coalesce(i.item_count, 0) as item_count,
    coalesce(i.total_quantity, 0) as total_quantity,
    case
        when o.cleaned_total_amount >= 1000 then 'High Value'
        when o.cleaned_total_amount >= 100 then 'Medium Value'
        when o.cleaned_total_amount is not null then 'Low Value'
    end as order_value_tier,
    current_timestamp as dbt_loaded_at
from orders as o
left join customers as c on o.customer_id = c.customer_id
left join order_items as i on o.order_id = i.order_id
