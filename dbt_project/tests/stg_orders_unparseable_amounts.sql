{#- Counts (WARN) the orders whose amount text did not parse; their amount is NULL downstream. -#}
{{ config(severity='warn') }}
select order_id, raw_total_amount
from {{ ref('stg_orders') }}
where is_amount_unparseable
