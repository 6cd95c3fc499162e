{#- A negative order total means a parsing or source bug. -#}
select order_id, total_amount
from {{ ref('fact_orders') }}
where total_amount < 0
